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
APPLICATION = re.compile(r"^\d+ \[[^\]]*\] ")
# What diesel-async and capcom's pool run once on every new connection (not counted as the request's).
CONNECTION_SETUP = re.compile(r"SET (TIME ZONE|CLIENT_ENCODING|statement_timeout|application_name)\b", re.I)


def parameters_of(lines, index):
    """The `DETAIL:  Parameters:` line of the statement logged at `index`.

    capcom runs a request's statements on several connections at once, so the lines of other backends
    can come between a statement and its parameters: the detail is the next line of the same backend
    (`log_line_prefix = '%p '`).
    """
    pid = lines[index].split(" ", 1)[0]
    for line in lines[index + 1:]:
        if line.split(" ", 1)[0] != pid:
            continue
        return re.search(r"DETAIL:  [Pp]arameters: (.*)$", line)
    return None


def main(path):
    lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    # The last capture in the log (an earlier run's markers may still be there).
    starts = [index for index, line in enumerate(lines) if "capcom-capture-start" in line]
    if not starts:
        sys.exit("no capture marker in the log")
    statements = []
    for index in range(starts[-1] + 1, len(lines)):
        line = lines[index]
        if "capcom-capture-end" in line:
            break
        match = re.search(r"duration: [\d.]+ ms  execute [^:]*: (.*)$", line)
        if not match:
            continue
        # Only capcom's connections (`log_line_prefix = '%p [%a] '`): another server on the same database
        # (PostGraphile, run beside it) is not part of the request.
        if APPLICATION.search(line) and not line.split(" ", 2)[1] == "[capcom]":
            continue
        sql = match.group(1)
        if CONNECTION_SETUP.match(sql):
            # A connection the pool opened during the capture: its set-up is not the request's.
            continue
        detail = parameters_of(lines, index)
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
