"""Command-line conventions shared by the repository's Python commands
(phantom/generate, python3 -m training, python3 -m evaluation): a bad
command line or input is one line on stderr and exit status 2, never a
traceback ($NODULEID_TRACEBACK=1 keeps the traceback for debugging)."""
import argparse
import difflib
import json
import os
import re
import sys


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line:
    "PROG: error: MESSAGE (see PROG --help)", exit status 2. Sub-parsers
    made with add_subparsers() are OneLineParsers too. A misspelt
    command, choice or option gets "; did you mean 'X'?"."""

    def _option_strings(self):
        out = []
        for a in self._actions:
            out += [o for o in a.option_strings if o.startswith("--")]
            if isinstance(a, argparse._SubParsersAction):
                for p in a.choices.values():
                    if isinstance(p, OneLineParser):
                        out += p._option_strings()
        return out

    def error(self, message):
        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m:
            guess = suggest(m.group(1), re.findall(r"'([^']*)'", m.group(2)))
        else:
            m = re.search(r"unrecognized arguments: (\S+)", message)
            word = m.group(1).split("=")[0] if m else ""
            guess = suggest(word, self._option_strings()) if word.startswith("--") else None
        if guess:
            message += "; did you mean '%s'?" % guess
        print("%s: error: %s (see %s --help)" % (self.prog, message, self.prog),
              file=sys.stderr)
        sys.exit(2)


def suggest(word, candidates):
    """The candidate closest to `word` (difflib ratio >= 0.6), or None."""
    m = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return m[0] if m else None


def one_line(e):
    """The message of exception `e` as the user should read it: one line,
    naming the file of an OSError, without the C function's name that
    libnoduleid's messages start with (kept when $NODULEID_VERBOSE is set,
    as in the noduleid program)."""
    if isinstance(e, KeyError):
        msg = "missing key %s" % e
    else:
        msg = (e.strerror if isinstance(e, OSError) and e.strerror else str(e)) or ""
        if not os.environ.get("NODULEID_VERBOSE", "0").strip("0"):
            msg = re.sub(r"^nid_[a-z0-9_]+: ", "", msg)
        if isinstance(e, OSError) and e.filename is not None and \
                str(e.filename) not in msg:
            msg = "%s: %s" % (e.filename, msg)
    msg = msg.strip()
    return msg.splitlines()[0] if msg else type(e).__name__


def run_cli(main, prog, argv=None):
    """main(argv), with a bad argument or input (ValueError, OSError,
    KeyError, json.JSONDecodeError) reported as "PROG: error: MESSAGE" on
    stderr and exit status 2; Ctrl-C gives "PROG: interrupted" and 130."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        print("%s: interrupted" % prog, file=sys.stderr)
        return 130
    except (ValueError, OSError, KeyError, json.JSONDecodeError) as e:
        if os.environ.get("NODULEID_TRACEBACK"):
            raise
        print("%s: error: %s" % (prog, one_line(e)), file=sys.stderr)
        return 2
