"""Files that must be refused, with the start of the Spanish message each one gets."""

import io
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


GOOD_PARQUET = parquet_bytes(pa.table({"x": [1.0, 2.0, 3.0], "y": ["a", "b", "c"]}))

NOT_TABULAR = "El archivo no es CSV ni Parquet"

# (test id, file name, content, expected message start)
BAD_FILES = [
    ("empty", "empty.csv", b"", "El archivo está vacío."),
    ("blank-lines", "blank.csv", b"\n \n\n", "El archivo está vacío."),
    ("png", "chart.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), NOT_TABULAR),
    ("zip", "data.zip", zip_bytes({"data.csv": b"a,b\n1,2\n"}), NOT_TABULAR),
    (
        "xlsx",
        "book.xlsx",
        zip_bytes({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"}),
        NOT_TABULAR,
    ),
    ("nul-bytes", "dump.csv", b"a,b\n1,2\n\x00\x00\x00\x00\x01\x02\x03", NOT_TABULAR),
    ("utf16", "excel.csv", "a,b\n1,2\n".encode("utf-16"), "El CSV está codificado en UTF-16"),
    ("ragged-csv", "ragged.csv", b"a,b,c\n1,2,3\n4,5,6,7,8\n", "No se pudo leer el CSV"),
    ("row-longer-than-header", "shifted.csv", b"a,b\n1,2,3\n4,5,6\n", "No se pudo leer el CSV"),
    (
        "truncated-parquet",
        "cut.parquet",
        GOOD_PARQUET[: len(GOOD_PARQUET) // 2],
        "No se pudo leer el archivo Parquet",
    ),
    ("one-column", "single.csv", b"a\n1\n2\n", "El archivo debe tener al menos dos columnas"),
    (
        "duplicate-columns",
        "dup.csv",
        b"id,value,value\n1,2,3\n",
        "La cabecera tiene nombres de columna repetidos: value.",
    ),
    (
        "duplicate-parquet-columns",
        "dup.parquet",
        parquet_bytes(pa.Table.from_arrays([pa.array([1, 2]), pa.array([3, 4])], names=["a", "a"])),
        "La cabecera tiene nombres de columna repetidos: a.",
    ),
    (
        "empty-column-name",
        "blank.csv",
        b"id,,value\n1,2,3\n",
        "La cabecera tiene columnas sin nombre",
    ),
    ("header-only", "header.csv", b"a,b,c\n", "El archivo no tiene filas de datos"),
    (
        "parquet-without-rows",
        "none.parquet",
        parquet_bytes(pa.table({"x": pa.array([], pa.int64()), "y": pa.array([], pa.string())})),
        "El archivo no tiene filas de datos",
    ),
]

BAD_FILE_IDS = [case[0] for case in BAD_FILES]
