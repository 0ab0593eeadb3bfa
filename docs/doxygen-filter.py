#!/usr/bin/env python3
"""Doxygen's INPUT_FILTER for include/troupe/*.h: it makes Doxygen read the headers' plain
comments as they are written, so the headers keep the project's style (docs/CMakeLists.txt).

The headers' conventions, and what each becomes:
  - the comment at the top of a file describes the file: it becomes its \\file block;
  - a comment on its own lines, directly above a declaration (no blank line between),
    documents it. The declarations right after that one share the comment when they are
    its va_list or format variants (tr_pack_into, tr_vpack_into; tr_reply, tr_replyf) or
    the comment names them (heartbeat_ms and down_after_ms): such a run becomes a Doxygen
    member group, whose comment DISTRIBUTE_GROUP_DOC hands to each member without one of
    its own. Any other declaration needs its own comment, and Doxygen warns when it has
    none, rather than it inheriting whatever comment is above it;
  - a comment after code on the same line (a field, an enum value, a short function)
    documents that line's member: it becomes /**< ... */;
  - a section title, "/* ---- name ---- */", stays an ordinary comment; prose under a title
    that is not directly above a declaration goes into the file's description, headed by
    the title;
  - any other comment (one followed by a blank line or by another comment) is left alone;
  - the error list's X-macro, expanded inside tr_errno_t, is written out as the enum values
    it generates, each documented by its text from the list.
Comment text is escaped so that backslashes, '@', '<', '>', '&', '%' and '#' read as
themselves and not as Doxygen commands, HTML or links. The output has exactly the lines of
the input, so Doxygen's warnings point at the real lines.

Usage: doxygen-filter.py FILE           the filtered text on stdout (what Doxygen runs)
       doxygen-filter.py --check FILE...  fails unless each file filters, line for line
"""
import re
import sys


def scan(text):
    """Split text into ('code', s) and ('comment', s) pieces, in order. Strings and character
    literals in code are kept whole so that a "/*" inside one is not a comment."""
    pieces, i, n, start = [], 0, len(text), 0
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            if i > start:
                pieces.append(("code", text[start:i]))
            end = text.find("*/", i + 2)
            if end < 0:
                raise ValueError(f"unterminated comment at offset {i}")
            pieces.append(("comment", text[i:end + 2]))
            i = start = end + 2
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            if i > start:
                pieces.append(("code", text[start:i]))
            pieces.append(("comment", text[i:end]))
            i = start = end
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j + 1
        else:
            i += 1
    if start < n:
        pieces.append(("code", text[start:]))
    return pieces


class Line:
    """One line of the file: its code (comments removed), the comments that start on it, and
    the brace depth before it."""

    def __init__(self):
        self.code = ""
        self.comments = []  # (index into pieces, True when only blanks precede it)
        self.depth = 0


def lines_of(pieces):
    lines, depth = [Line()], 0
    cur = lines[0]
    for k, (kind, s) in enumerate(pieces):
        if kind == "comment":
            cur.comments.append((k, cur.code.strip() == ""))
            for _ in range(s.count("\n")):
                cur = Line()
                cur.depth = depth
                lines.append(cur)
            continue
        for ch in s:
            if ch == "\n":
                cur = Line()
                cur.depth = depth
                lines.append(cur)
                continue
            cur.code += ch
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
    return lines


SECTION = re.compile(r"^/\*[ \t]*----[ \t]*(.*?)[ \t]*----[ \t]*")


QUOTED = re.compile(r'"[^"\n]*"|`[^`\n]*`')


def escape_text(text):
    """Text outside quotes and code spans: backslashes and the characters Doxygen would take
    for commands, HTML, entities or links read as themselves."""
    text = text.replace("\\", "\\\\")
    for ch in "@<>&%#":
        text = text.replace(ch, "\\" + ch)
    # "e.g. " would end the brief sentence there; a backslash-space keeps it going.
    return re.sub(r"\b(e\.g|i\.e)\. ", r"\1.\\ ", text)


def escape_line(line):
    # Doxygen shows "..." and `...` as written, so they are left alone.
    out, pos = [], 0
    for m in QUOTED.finditer(line):
        out.append(escape_text(line[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(escape_text(line[pos:]))
    return "".join(out)


LEAD = re.compile(r"^(\s*\*?)( ?)(\s*)(.*)$")


def escape(body):
    """A comment's text as Doxygen should show it. Lines indented past the text around them
    (the format letters of msg.h, the overload policies of actor.h, code examples) are laid
    out by column, so they become \\verbatim blocks, shown as written; markdown lists
    ("- item" and its indented continuation) stay lists. No line is added."""
    lines = body.split("\n")
    pre, in_list, list_indent = [], False, 0
    for k, line in enumerate(lines):
        m = LEAD.match(line)
        indent, content = len(m.group(3)), m.group(4)
        if k == 0 or not content:
            pre.append(False)
            continue
        if content.startswith("- "):
            in_list, list_indent = True, indent
            pre.append(False)
        elif in_list and indent > list_indent:
            pre.append(False)
        else:
            in_list = False
            pre.append(indent >= 2)
    out = []
    for k, line in enumerate(lines):
        # Doxygen keeps a verbatim line's leading "*", so it goes (a blank keeps the column).
        text = re.sub(r"^(\s*)\*", r"\1 ", line) if pre[k] else escape_line(line)
        if pre[k] and (k == 0 or not pre[k - 1]) and out:
            out[-1] += " \\verbatim"
        out.append(text)
        if pre[k] and (k + 1 == len(lines) or not pre[k + 1]):
            out[-1] += " \\endverbatim"
    return "\n".join(out)


def doc(comment, opener, prefix=""):
    """Turn a plain /* ... */ comment into a Doxygen block that starts with opener."""
    inner = comment[2:-2]
    return opener + prefix + escape(inner) + "*/"


def is_decl_start(line):
    code = line.code.strip()
    if not code:
        return False
    if code.startswith("}") or code.startswith("#endif") or code.startswith("#if"):
        return False
    if code.startswith("#undef") or code.startswith("#include"):
        return False
    return True


def unit_end(lines, i, depth):
    """The index of the last line of the declaration that starts at line i."""
    code = lines[i].code.strip()
    if code.startswith("#"):
        while lines[i].code.rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
        return i
    parens = 0
    while i < len(lines):
        after = lines[i + 1].depth if i + 1 < len(lines) else 0
        code = lines[i].code.strip()
        parens += code.count("(") - code.count(")")
        if after == depth and parens == 0 and (code.endswith(";") or code.endswith(",")):
            return i
        if i + 1 < len(lines) and lines[i + 1].code.strip().startswith("}") \
                and after == depth:
            return i
        i += 1
    return len(lines) - 1


def run_of(lines, i):
    """The declarations under a comment that ends on line i-1: a list of (first, last) line
    ranges, up to a blank line, a comment on its own line or the end of the enclosing body."""
    depth, units = lines[i].depth, []
    while i < len(lines) and is_decl_start(lines[i]) and lines[i].depth == depth \
            and not any(lead for _, lead in lines[i].comments):
        end = unit_end(lines, i, depth)
        units.append((i, end))
        i = end + 1
    return units


def decl_name(code):
    """The name a declaration declares (the first, for "int a, b;")."""
    code = code.strip()
    m = re.match(r"#\s*define\s+(\w+)", code)
    if m:
        return m.group(1)
    m = re.search(r"\(\s*\*\s*(\w+)\s*\)\s*\(", code)  # a pointer to a function
    if m:
        return m.group(1)
    code = re.sub(r"\{.*\}", " ", code)
    if "(" in code:
        m = re.search(r"(\w+)\s*\(", code)
        return m.group(1) if m else ""
    code = re.sub(r"\[[^]]*\]", "", code.split(",")[0].rstrip(";"))
    m = re.search(r"(\w+)\s*(=.*)?$", code)
    return m.group(1) if m else ""


def shared(comment, units, lines):
    """The part of a run that its comment documents: the declaration under it, then each one
    that has a comment of its own, is named in the comment, or is the v (va_list) or f
    (format) variant of the first (tr_pack_into, tr_vpack_into; tr_reply, tr_replyf). The run
    stops at the first declaration that is none of these: it needs its own comment, and
    Doxygen says so, instead of inheriting whatever comment happens to be above it."""
    first = decl_name(" ".join(l.code for l in lines[units[0][0]:units[0][1] + 1]))
    variants = {first + "f", first.replace("tr_", "tr_v", 1)}
    keep = units[:1]
    for a, b in units[1:]:
        name = decl_name(" ".join(l.code for l in lines[a:b + 1]))
        own = any(not lead for line in lines[a:b + 1] for _, lead in line.comments)
        named = name and re.search(r"\b" + re.escape(name) + r"\b", comment)
        if not (own or named or name in variants):
            break
        keep.append((a, b))
    return keep


def errno_values(text):
    """The enum values TR_ERRNO_MAP generates, each with its text, on one line."""
    out = []
    for name, num, msg in re.findall(r'XX\((\w+),\s*(\d+),\s*"([^"]*)"\)', text):
        out.append(f"TR_{name} = -{num}, /**< {escape(msg)} */")
    return " ".join(out)


MULTI = re.compile(r"^(\s*)((?:const\s+|unsigned\s+)*\w+)\s+(\**\w+(?:\[[^]]*\])?"
                   r"(?:\s*,\s*\**\w+(?:\[[^]]*\])?)+);(.*)$")


def split_declarators(res):
    """Doxygen documents only the first name of "uint32_t a, b;", so such a field becomes one
    declaration per name, in a member group (unless it is in one already) that hands the
    comment on the line, or the comment above, to each."""
    open_groups = 0
    for ln, line in enumerate(res):
        m = MULTI.match(line)
        if m and open_groups == 0 and "/*" not in line[:m.end(3)]:
            indent, typ, names, rest = m.groups()
            decls = " ".join(f"{typ} {n.strip()};" for n in names.split(","))
            close = ln
            if "/*" in rest and "*/" not in rest[rest.index("/*"):]:
                while close + 1 < len(res) and "*/" not in res[close]:
                    close += 1
            res[ln] = f"{indent}/**@{{*/ {decls}{rest}"
            res[close] += " /**@}*/"
            if close != ln:
                open_groups += 1  # closed on a later line
            continue
        if m:
            indent, typ, names, rest = m.groups()
            decls = " ".join(f"{typ} {n.strip()};" for n in names.split(","))
            res[ln] = f"{indent}{decls}{rest}"
        open_groups += line.count("/**@{*/") - line.count("/**@}*/")
        open_groups = max(open_groups, 0)


def filter_header(text):
    pieces = scan(text)
    lines = lines_of(pieces)
    out = [s for _, s in pieces]
    group_open, group_close = {}, {}  # piece index -> text to put before it / line -> after
    first = True
    for ln, line in enumerate(lines):
        for k, lead in line.comments:
            s = pieces[k][1]
            if s.startswith("//"):
                continue
            if not lead:
                out[k] = doc(s, "/**<", " ")
                continue
            if first:
                # \\file last: its argument would be the rest of its line, and none is needed
                out[k] = "/** " + escape(s[2:-2]) + " \\file */"
                first = False
                continue
            end = ln + s.count("\n")
            nxt = end + 1
            section = SECTION.match(s)
            units = run_of(lines, nxt) if nxt < len(lines) else []
            if section:
                title = section.group(1)
                rest = s[section.end():-2].strip(" \n*")
                if units and rest:
                    out[k] = "/** " + escape(title) + ". " + escape(s[section.end():-2]) + "*/"
                elif rest:
                    out[k] = "/** \\par " + escape(title) + \
                        escape(s[section.end():-2]) + " \\file */"
                else:
                    continue
            elif units:
                out[k] = doc(s, "/**", " ")
            else:
                continue
            units = shared(s, units, lines) if units else units
            names = sum(1 + lines[a].code.count(",") if MULTI.match(lines[a].code) else 1
                        for a, _ in units)
            if names > 1:
                group_open[k] = "/**@{*/ "
                last = units[-1][1]
                close = last + max([pieces[c][1].count("\n") for c, _ in lines[last].comments],
                                   default=0)
                group_close[close] = " /**@}*/"
    # Put the group markers in, and the error list's values, without adding lines.
    text_out = "".join(group_open.get(k, "") + s for k, s in enumerate(out))
    res = text_out.split("\n")
    for ln, tail in group_close.items():
        # After a #define the marker would be read as part of the macro's value, so it
        # opens the next line instead (a blank line or a comment, where a run ends).
        if lines[ln].code.lstrip().startswith("#") and ln + 1 < len(res) \
                and not res[ln + 1].lstrip().startswith("#"):
            res[ln + 1] = tail.strip() + " " + res[ln + 1]
        else:
            res[ln] += tail
    split_declarators(res)
    errno = errno_values(text)
    for ln, l in enumerate(res):
        if re.match(r"^\s*TR_ERRNO_MAP\(TR__ERRNO_ENUM\)\s*$", l):
            res[ln] = "  " + errno
    return "\n".join(res)


def main():
    # --check FILE...: filter each file and fail unless it works and keeps every line.
    # Doxygen ignores a filter's exit status (a crash would only leave a page empty), so
    # the docs target runs this first.
    if len(sys.argv) > 2 and sys.argv[1] == "--check":
        bad = 0
        for path in sys.argv[2:]:
            with open(path, encoding="utf-8") as f:
                text = f.read()
            try:
                out = filter_header(text)
            except Exception as e:  # report every file, then fail
                print(f"{path}: the doxygen filter failed: {e!r}", file=sys.stderr)
                bad += 1
                continue
            if out.count("\n") != text.count("\n"):
                print(f"{path}: the doxygen filter changed the number of lines", file=sys.stderr)
                bad += 1
        sys.exit(1 if bad else 0)
    if len(sys.argv) != 2:
        raise SystemExit("usage: doxygen-filter.py FILE | --check FILE...")
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    sys.stdout.write(filter_header(text))


if __name__ == "__main__":
    main()
