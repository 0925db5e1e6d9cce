#!/usr/bin/env python3
"""Drives `runprog -batch` from Python with the standard library only.

Starts the worker, sends a few run requests (one JSON object a line), reads the results (one
JSON object a line, in the order the runs complete) and matches them to the requests by "id".

    batch_client.py [--runprog PATH] [--program PATH] [-j N]

--program is a C program that copies stdin to stdout given "copy", exits with N given
"exit N" and spins given "spin", as tests/programs/tracee.c does (the test suite runs this
client with it).
"""
import argparse
import json
import subprocess
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runprog", default="runprog")
    parser.add_argument("--program", required=True)
    parser.add_argument("-j", default="2")
    args = parser.parse_args()

    prog = args.program
    requests = [
        # stdin given inline, stdout and stderr collected (at most 1 KiB each)
        {"id": "echo", "args": [prog, "copy"],
         "files": [{"content": "hello from python\n"},
                   {"name": "stdout", "max": 1024}, {"name": "stderr", "max": 1024}]},
        {"id": "exit-3", "args": [prog, "exit", "3"]},
        # 100 ms of CPU time (in nanoseconds, as go-judge's cpuLimit)
        {"id": "spin", "args": [prog, "spin"], "cpuLimit": 100_000_000},
        {"id": "typo", "args": [prog, "exit", "0"], "cpulimit": 1},
    ]

    worker = subprocess.Popen([args.runprog, "-batch", "-j", args.j],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    # A few requests are written at once; a client with many should write from one thread and
    # read from another (the worker stops reading while its results are not read).
    for r in requests:
        worker.stdin.write(json.dumps(r) + "\n")
    worker.stdin.close()  # EOF: the worker finishes these runs, then exits 0

    results = {}
    for line in worker.stdout:
        result = json.loads(line)
        results[result["id"]] = result
    code = worker.wait()

    for r in requests:
        res = results.get(r["id"])
        if res is None:
            print(f"{r['id']}: no result")
            continue
        if res["verdict"] == "invalid_request":
            print(f"{r['id']}: {res['status']} (field {res['field']}: {res['error']})")
            continue
        line = (f"{r['id']}: {res['status']} exit={res['exitStatus']} "
                f"time={res['time'] // 1_000_000}ms memory={res['memory'] // 1024}KiB")
        if "stdout" in res["files"]:
            line += f" stdout={res['files']['stdout']!r}"
        print(line)
    print(f"summary: {len(results)} of {len(requests)} results, worker exit code {code}")
    return 0 if code == 0 and len(results) == len(requests) else 1


if __name__ == "__main__":
    sys.exit(main())
