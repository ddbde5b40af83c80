#!/usr/bin/env python3
"""Report import cycles between the module files of each crate in this Cargo workspace.

For each workspace member (root Cargo.toml `members`) it walks the module tree from every target
root (src/lib.rs, src/main.rs, src/bin/*, [lib]/[[bin]] paths) along `mod x;` declarations; each
.rs file is a node named by its module path (`serve::pipeline`). A -> B when file A refers to
module B: `crate::`/`$crate::`/`super::`/`self::` paths, use trees, child-module names and modules
imported by `use`, resolved to the longest prefix that is a module. Comments, string literals and
`#[cfg(test)]` items (inline test modules, `#[cfg(test)] mod x;` files) are ignored. Prints each
strongly connected component of more than one file with, per member, one example reference
(file:line) for each edge to another member.

A module's references to its own ancestors (a child using `super::Error` of the `mod.rs` that
declares it) are not counted: the parent is the facade of its children, and a cycle through it
is the module tree itself. `--strict` counts them as well.

Usage: scripts/module-cycles.py [--crate NAME] [--dot] [--strict]   (Python 3.11+, stdlib only)
--crate: one member (directory or package name); --dot: Graphviz instead. Exit 1 if any cycle.
"""
import argparse, bisect, re, sys, tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STRICT = False
RAW = re.compile(r'[bc]?r(#*)"')
CFG_TEST = re.compile(r'#\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]')
FILE_CFG_TEST = re.compile(r'#!\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]')
MOD = re.compile(r'\bmod\s+(?:r#)?(\w+)\s*([;{])')
PATH_ATTR = re.compile(r'#\s*\[\s*path\s*=\s*"([^"]+)"\s*\]\s*(?:#\s*\[[^\]]*\]\s*)*(?:pub\s*(?:\([^)]*\))?\s*)?$')
USE = re.compile(r'\buse\s+([^;]*);')
PUB_BEFORE = re.compile(r'\bpub\s*(?:\([^)]*\))?\s*$')
PUB_IN = re.compile(r'\bpub\s*\(\s*in\s[^)]*\)')
PATH = re.compile(r'(?<![\w$:])(\$?crate|[A-Za-z_]\w*)((?:\s*::\s*\w+)+)')
TOKEN = re.compile(r'::|[{},*]|\$?\w+')
BLOCK = re.compile(r'/\*|\*/')
rel = lambda f: f.relative_to(ROOT)

def blank(text, a, b):
    """text with [a, b) turned to spaces, newlines kept (so offsets and line numbers hold)."""
    return text[:a] + re.sub(r'[^\n]', ' ', text[a:b]) + text[b:]

def strip(src):
    """Blank comments (nested /* */ too), string, raw string and char literals."""
    out, i, n = [], 0, len(src)
    while i < n:
        c, j = src[i], i + 1
        m = RAW.match(src, i) if c in 'bcr' and not (src[i - 1:i].isalnum() or src[i - 1:i] == '_') else None
        if m:
            end = src.find('"' + m.group(1), m.end())
            j = n if end < 0 else end + 1 + len(m.group(1))
        elif src.startswith('//', i):
            j = src.find('\n', i) % (n + 1)  # -1 (no newline) -> n
        elif src.startswith('/*', i):  # block comments nest
            depth, j = 0, n
            for t in BLOCK.finditer(src, i):
                depth += 1 if t.group() == '/*' else -1
                if depth == 0: j = t.end(); break
        elif c == '"':
            while j < n and src[j] != '"': j += 2 if src[j] == '\\' else 1
            j += 1
        elif c == "'" and src.startswith('\\', i + 1):  # '\n', '\'', '\u{..}'
            j = src.find("'", i + 3) % (n + 1) + 1
        elif c == "'" and src[i + 2:i + 3] == "'":  # 'x' (otherwise a lifetime or label)
            j = i + 3
        else:
            out.append(c); i += 1; continue
        out.append(re.sub(r'[^\n]', ' ', src[i:j])); i = j
    return ''.join(out)

def block_end(t, i):
    """Offset just past the } matching the { at t[i]."""
    depth = 0
    for j in range(i, len(t)):
        if t[j] == '{': depth += 1
        elif t[j] == '}':
            depth -= 1
            if depth == 0: return j + 1
    return len(t)

def item_end(t, i):
    """End of the item (or field) at i: `;` or `,` outside ()[]<>, its {...} block, or a closing }."""
    depth = 0
    for j in range(i, len(t)):
        ch = t[j]
        if ch in '([<': depth += 1
        elif ch in ')]' or (ch == '>' and t[j - 1] not in '-='): depth -= 1
        elif ch in ';,' and depth <= 0: return j + 1
        elif ch == '{': return block_end(t, j)
        elif ch == '}': return j
    return len(t)

class Crate:
    def __init__(self, name, cdir):
        self.name, self.dir, self.tests = name, cdir, set()  # tests: files of `#[cfg(test)] mod x;`
        self.files = {}  # Path -> {mod, target, text, spans}
        self.owner = {}  # (target, module path) -> Path, for file and inline modules
        self.edges = {}  # Path -> {Path: (line, note)}

    def display(self, f):
        target, mod = self.files[f]['target'], self.files[f]['mod']
        head = [f'bin:{target}'] if target else ([] if mod else ['crate'])
        return '::'.join(head + list(mod))

    def child_file(self, f, mod_rs, ctx, name, src_before):
        attr = PATH_ATTR.search(src_before[-300:])
        if attr: return f.parent / attr.group(1), True
        base = (f.parent if mod_rs else f.parent / f.stem).joinpath(*ctx)
        for cand in (base / f'{name}.rs', base / name / 'mod.rs'):
            if cand.exists(): return cand, cand.name == 'mod.rs'
        return None, False

    def visit(self, f, mod, target, mod_rs):
        src = f.read_text(encoding='utf-8'); text = strip(src)
        if FILE_CFG_TEST.search(text): self.tests.add(f); return
        while (m := CFG_TEST.search(text)):
            end = item_end(text, m.end())
            if (d := re.search(r'\bmod\s+(\w+)\s*;$', text[m.start():end])):
                self.tests.add(self.child_file(f, mod_rs, (), d.group(1), src[:m.start() + d.start()])[0])
            text = blank(text, m.start(), end)
        spans = [(m.start(), block_end(text, m.end() - 1), m.group(1))  # inline `mod x { ... }`
                 for m in MOD.finditer(text) if m.group(2) == '{']
        self.files[f] = dict(mod=mod, target=target, text=text, spans=spans)
        self.owner[(target, mod)] = f
        for m in MOD.finditer(text):
            ctx = self.ctx(f, m.start())
            if m.group(2) == '{': self.owner[(target, mod + ctx)] = f; continue
            child, child_rs = self.child_file(f, mod_rs, ctx, m.group(1), src[:m.start()])
            if child is None: print(f'warning: {rel(f)}: no file for `mod {m.group(1)};`', file=sys.stderr)
            elif child not in self.files: self.visit(child, mod + ctx + (m.group(1),), target, child_rs)

    def ctx(self, f, pos):
        """Names of the inline (non-test) modules of file f that enclose offset pos."""
        return tuple(name for s, e, name in self.files[f]['spans'] if s <= pos < e)

    def absolute(self, segs, scope, target, aliases):
        """Absolute module path of a path written in module `scope`, or None if extern/local."""
        head, rest = segs[0], segs[1:]
        if head in ('crate', '$crate'): base = ()
        elif head == 'self': base = scope
        elif head == 'super':
            base = scope[:-1]
            while rest and rest[0] == 'super': base, rest = base[:-1], rest[1:]
        elif head in aliases.get(scope, {}): base = aliases[scope][head]
        elif (target, scope + (head,)) in self.owner: base = scope + (head,)
        else: return None
        return base + tuple(s for s in rest if s not in ('self', '*'))

    def add_edge(self, f, target, path, line, note=''):
        while (target, path) not in self.owner: path = path[:-1]
        dest = self.owner[(target, path)]
        # A child reaching into its own ancestor (the facade that declares and assembles it)
        # is the module tree itself, not a layering edge; --strict counts it too.
        if not STRICT and self.files[dest]['mod'] == self.files[f]['mod'][:len(self.files[dest]['mod'])]: return
        old = self.edges.setdefault(f, {}).get(dest)
        if dest != f and (old is None or line < old[0]): self.edges[f][dest] = (line, note)

    def scan(self, f):
        text, mod, target, aliases = *(self.files[f][k] for k in ('text', 'mod', 'target')), {}
        nl = [i for i, ch in enumerate(text) if ch == '\n']
        line = lambda pos: bisect.bisect_left(nl, pos) + 1
        for m in USE.finditer(text):
            scope = mod + self.ctx(f, m.start())
            reexport = bool(PUB_BEFORE.search(text[max(0, m.start() - 40):m.start()]))
            for segs, alias, pos in use_leaves(m.group(1), m.start(1)):
                absp = self.absolute(segs, scope, target, aliases)
                if absp is None: continue
                if (target, absp) in self.owner and segs[-1] != '*':  # a module imported by name
                    aliases.setdefault(scope, {})[alias or [s for s in segs if s != 'self'][-1]] = absp
                    if not reexport: continue  # an edge only where the name is used
                self.add_edge(f, target, absp, line(pos), 'pub use' if reexport else '')
            text = blank(text, m.start(), m.end())
        text = PUB_IN.sub(lambda m: ' ' * len(m.group(0)), text)
        for m in PATH.finditer(text):
            segs = [m.group(1)] + re.findall(r'\w+', m.group(2))
            absp = self.absolute(segs, mod + self.ctx(f, m.start()), target, aliases)
            if absp is not None: self.add_edge(f, target, absp, line(m.start()))

def use_leaves(tree, offset):
    """Flatten a use tree: [(segments, `as` name or None, offset of the leaf)]; [] if `::`-rooted."""
    toks = [(t.group(0), offset + t.start()) for t in TOKEN.finditer(tree)]
    if not toks or toks[0][0] == '::': return []
    pos = 0
    def subtree(prefix):
        nonlocal pos
        path, out = list(prefix), []
        while pos < len(toks):
            tok, at = toks[pos]; pos += 1
            if tok == '{':
                while pos < len(toks) and toks[pos][0] != '}':
                    out += subtree(path)
                    if pos < len(toks) and toks[pos][0] == ',': pos += 1
                pos += 1
                return out
            path.append(tok)
            if pos < len(toks) and toks[pos][0] == '::': pos += 1; continue
            alias = None
            if pos + 1 < len(toks) and toks[pos][0] == 'as': alias = toks[pos + 1][0]; pos += 2
            return [(path, None if alias == '_' else alias, at)]
        return out
    return subtree([])

def targets(cdir, manifest):
    """(target name, root file) pairs: '' for the library, the binary's name otherwise."""
    pkg, found = manifest.get('package', {}).get('name', cdir.name), {}
    lib = cdir / manifest.get('lib', {}).get('path', 'src/lib.rs')
    if lib.exists(): found[lib] = ''
    for b in manifest.get('bin', []):
        if 'path' in b: found.setdefault(cdir / b['path'], b.get('name', pkg))
    if (cdir / 'src/main.rs').exists(): found.setdefault(cdir / 'src/main.rs', pkg)
    for p in sorted((cdir / 'src/bin').glob('*.rs')) + sorted((cdir / 'src/bin').glob('*/main.rs')):
        found.setdefault(p, p.stem if p.name != 'main.rs' else p.parent.name)
    return [(name, f) for f, name in found.items()]

def tarjan(nodes, edges):
    index, low, stack, on, comps = {}, {}, [], set(), []
    def visit(v):
        index[v] = low[v] = len(index); stack.append(v); on.add(v)
        for w in edges.get(v, {}):
            if w not in index: visit(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v: comp.append(stack.pop()); on.discard(comp[-1])
            comps.append(comp)
    for v in nodes:
        if v not in index: visit(v)
    return comps

def report(crate, cycles):
    n = len(cycles)
    print(f'{crate.name}: {len(crate.files)} module files, {n or "no"} cycle{"" if n == 1 else "s"}')
    for i, comp in enumerate(cycles, 1):
        print(f'  cycle {i} ({len(comp)} modules):')
        for f in comp:
            print(f'    {crate.display(f)}  ({rel(f)})')
            for g, (line, note) in sorted(crate.edges.get(f, {}).items(), key=lambda e: crate.display(e[0])):
                if g in comp: print(f'      -> {crate.display(g):<28} {rel(f)}:{line}{f"  ({note})" if note else ""}')

def dot(crate, cycles):
    red = {f: i for i, c in enumerate(cycles) for f in c}
    out = [f'  subgraph "cluster_{crate.name}" {{ label="{crate.name}";']
    for f in sorted(crate.files, key=crate.display):
        out.append(f'    "{rel(f)}" [label="{crate.display(f)}"{", color=red" if f in red else ""}];')
    for f, edges in sorted(crate.edges.items()):
        for g, (line, _) in sorted(edges.items()):
            colour = ' [color=red]' if f in red and red.get(g) == red[f] else ''
            out.append(f'    "{rel(f)}" -> "{rel(g)}"{colour};  // {rel(f)}:{line}')
    return out + ['  }']

def main():
    ap = argparse.ArgumentParser(description='Module import cycles per crate of the Cargo workspace.')
    ap.add_argument('--crate', metavar='NAME', help='only this workspace member')
    ap.add_argument('--dot', action='store_true', help='print the module graph in Graphviz format')
    ap.add_argument('--strict', action='store_true', help='count references to ancestor modules too')
    args = ap.parse_args()
    global STRICT
    STRICT = args.strict
    sys.setrecursionlimit(10000)
    members = tomllib.loads((ROOT / 'Cargo.toml').read_text())['workspace']['members']
    found, graph, n = [], ['digraph modules {', '  rankdir=LR; node [shape=box, fontsize=10];'], 0
    for cdir in [d for pat in members for d in sorted(ROOT.glob(pat)) if (d / 'Cargo.toml').exists()]:
        manifest = tomllib.loads((cdir / 'Cargo.toml').read_text())
        if args.crate and args.crate not in (manifest.get('package', {}).get('name'), cdir.name): continue
        crate, n = Crate(cdir.name, cdir), n + 1
        for target, root in targets(cdir, manifest):
            if root not in crate.files: crate.visit(root, (), target, True)
        for f in sorted((cdir / 'src').rglob('*.rs')):
            if f not in crate.files and f not in crate.tests:
                print(f'warning: {rel(f)} is not reached from a crate root; skipped', file=sys.stderr)
        for f in crate.files: crate.scan(f)
        cycles = [sorted(c, key=crate.display) for c in tarjan(sorted(crate.files), crate.edges) if len(c) > 1]
        cycles.sort(key=lambda c: crate.display(c[0]))
        if cycles: found.append(f'{len(cycles)} in {crate.name}')
        if args.dot: graph += dot(crate, cycles)
        else: report(crate, cycles)
    if args.crate and not n: sys.exit(f'module-cycles: no workspace member {args.crate!r}')
    if args.dot: print('\n'.join(graph + ['}']))
    summary = ', '.join(found) if found else f'none in {n} crate{"" if n == 1 else "s"}'
    print(f'module cycles: {summary}', file=sys.stderr if args.dot else sys.stdout)
    sys.exit(1 if found else 0)

if __name__ == '__main__':
    main()
