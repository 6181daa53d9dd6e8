#!/usr/bin/env python3
"""Turns the statements PostgreSQL logged between two markers into a pgbench script.

usage: pg_log_to_pgbench.py POSTGRES_LOG > script.sql

bench/run.sh switches on `log_min_duration_statement = 0`, sends one request to capcom between
`SELECT 'capcom-capture-start'` and `SELECT 'capcom-capture-end'`, and replays what capcom ran with pgbench:
each `execute` with its logged parameters inlined as literals, one statement per line.
"""
import re
import sys

PARAMETER = re.compile(r"\$(\d+) = ('(?:[^']|'')*'|NULL)")


def main(path):
    lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    capturing = False
    statements = []
    for index, line in enumerate(lines):
        if "capcom-capture-start" in line:
            capturing = True
            continue
        if "capcom-capture-end" in line:
            break
        if not capturing:
            continue
        match = re.search(r"duration: [\d.]+ ms  execute [^:]*: (.*)$", line)
        if not match:
            continue
        sql = match.group(1)
        following = lines[index + 1] if index + 1 < len(lines) else ""
        detail = re.search(r"DETAIL:  Parameters: (.*)$", following)
        if detail:
            values = dict((int(n), v) for n, v in PARAMETER.findall(detail.group(1)))
            for number in sorted(values, reverse=True):
                sql = re.sub(r"\$%d(?!\d)" % number, lambda _: values[number], sql)
        statements.append(sql.rstrip(";") + ";")
    if not statements:
        sys.exit("no statements captured")
    print("\n".join(statements))


if __name__ == "__main__":
    main(sys.argv[1])
