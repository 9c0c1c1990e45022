"""CSV helpers shared by the apps: one delimiter sniffer, so a file is split the same way
wherever Cauce reads it (a dataset upload, a CSV artifact's preview)."""

import csv
import io

CANDIDATE_DELIMITERS = (",", ";", "\t", "|")
# How much of the start of a file the sniffer is given.
DELIMITER_SAMPLE_BYTES = 64 * 1024
# Of which it looks at the first lines only.
DELIMITER_SAMPLE_LINES = 200


def sniff_delimiter(text: str) -> str:
    """The candidate delimiter that splits the sample's lines into the most consistent rows
    (the share of rows with as many fields as the header, then the most fields), with at
    least two fields in the header; "," when none does."""
    text = text.lstrip("\ufeff")
    lines = text.splitlines()
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may end in the middle of a line
    sample = "\n".join(lines[:DELIMITER_SAMPLE_LINES])
    best, best_score = ",", (0.0, 0)
    for delimiter in CANDIDATE_DELIMITERS:
        try:
            counts = [len(row) for row in csv.reader(io.StringIO(sample), delimiter=delimiter)]
        except csv.Error:
            continue
        counts = [count for count in counts if count]
        if not counts:
            continue
        header_fields = counts[0]
        if header_fields < 2:
            continue
        agreeing = sum(1 for count in counts if count == header_fields) / len(counts)
        score = (agreeing, header_fields)
        if score > best_score:
            best, best_score = delimiter, score
    return best
