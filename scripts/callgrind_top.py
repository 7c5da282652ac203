"""Where one callgrind dump's instructions go, per job.

    python3 scripts/callgrind_top.py DUMP JOBS [N]

prints the N (default 15) functions with the most instructions of their
own, then every Redis command (a function named *Command) with the
instructions it cost in all, its callees included, and its calls: each
divided by JOBS. Reads dumps written with --compress-strings=no
(scripts/callgrind.sh writes them so). Standard library only.
"""

import collections
import sys


def read(path):
    """Own instructions per function; calls and inclusive cost per callee."""
    own = collections.Counter()
    calls = collections.Counter()
    incl = collections.Counter()
    fn = cfn = None
    pending = None  # the count of the call whose cost line comes next
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("fn="):
                fn, pending = line[3:].strip(), None
            elif line.startswith("cfn="):
                cfn = line[4:].strip()
            elif line.startswith("calls="):
                pending = int(line[6:].split()[0])
            elif line[:1].isdigit() or line[:1] in "+-*":
                parts = line.split()
                if len(parts) < 2 or fn is None:
                    continue
                cost = int(parts[1])
                if pending is None:
                    own[fn] += cost
                else:
                    if cfn != fn:  # recursion would count twice
                        calls[cfn] += pending
                        incl[cfn] += cost
                    pending = None
    return own, calls, incl


def main():
    path, jobs = sys.argv[1], float(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 15
    own, calls, incl = read(path)
    total = sum(own.values()) or 1
    print("  own instructions/job, by function:")
    for name, cost in own.most_common(top):
        print("    %9.0f %5.1f%%  %s" % (cost / jobs, 100.0 * cost / total, name))
    print("  commands (callees included), per job:")
    commands = [n for n in incl if n.endswith("Command") and not n.startswith("lua")]
    for name in sorted(commands, key=lambda n: -incl[n])[:top]:
        print("    %9.0f  %6.2f calls  %s" % (incl[name] / jobs, calls[name] / jobs, name))


if __name__ == "__main__":
    main()
