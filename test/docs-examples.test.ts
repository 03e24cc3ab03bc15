/**
 * Every code example a user may paste from the README, docs/*.md and packages/*\/README.md
 * type-checks against the packages' public entry points, so a renamed export, option or method
 * breaks this test rather than the user's first build.
 *
 * What is checked: each ```ts (or ```typescript) block in strict mode, as a module of its own (so
 * top-level await is allowed), from examples/, whose package depends on every published package;
 * each ```js block as JavaScript (checkJs, not strict), failing only on what is wrong in JavaScript
 * too: a name a module does not export, a module or subpath that does not resolve, a property or
 * method that does not exist, an option an options object does not take, a wrong argument count.
 * `@meshcache/*` resolves through each package's exports map to its sources (the `@meshcache/source`
 * condition, as in every test), so an internal path is an error and no build is needed. A
 * third-party module the workspace does not install (@nestjs/common, @opentelemetry/api) is typed
 * `any`: what the example does with meshcache is still checked.
 *
 * A fragment says what its surrounding text implies in an HTML comment right before its fence,
 * which Markdown does not show: `<!-- example context: declare const config: ClusterConfig; -->`
 * (the comment's text is put before the block, or around it where it says `/* body *\/`; it may
 * import and declare). A block that is not
 * code to paste (an interface as documentation, an option list) says
 * `<!-- example: not checked, WHY -->`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Where the examples are compiled from: a package that depends on every published package. */
const home = join(root, 'examples', 'src', 'docs-examples');

const markdownFiles = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
  ...readdirSync(join(root, 'packages'))
    .map((name) => `packages/${name}/README.md`)
    .filter((path) => {
      try {
        readFileSync(join(root, path));
        return true;
      } catch {
        return false;
      }
    }),
].sort();

interface Block {
  /** docs/keyv.md:89, the line of the opening fence. */
  readonly where: string;
  readonly language: 'ts' | 'js';
  readonly context: string;
  readonly code: string;
  readonly skipped: string | undefined;
}

function blocksOf(path: string): Block[] {
  const lines = readFileSync(join(root, path), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(ts|typescript|js)\s*$/.exec(lines[i] as string);
    if (open === null) continue;
    const indent = (open[1] as string).length;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i] as string); i++) {
      body.push((lines[i] as string).slice(indent));
    }
    // The HTML comment that ends on the line before the fence, if any.
    let comment = '';
    if (/-->\s*$/.test(lines[start - 1] ?? '')) {
      let first = start - 1;
      while (first > 0 && !(lines[first] as string).includes('<!--')) first--;
      comment = lines
        .slice(first, start)
        .join('\n')
        .replace(/^[\s\S]*?<!--/, '')
        .replace(/-->\s*$/, '')
        .trim();
    }
    const context = /^example context:/.exec(comment) ? comment.replace(/^example context:/, '') : '';
    const skip = /^example: not checked,?\s*([\s\S]*)$/.exec(comment);
    blocks.push({
      where: `${path}:${start + 1}`,
      language: open[2] === 'js' ? 'js' : 'ts',
      context,
      code: body.join('\n'),
      skipped: skip ? (skip[1] as string).trim() || 'no reason given' : undefined,
    });
  }
  return blocks;
}

/** Diagnostics that are wrong in JavaScript too: see the essay. */
const JS_ERRORS = new Set([
  2305, // module has no exported member
  2307, // cannot find module
  2339, // property does not exist on type
  2551, // property does not exist, did you mean
  2353, // object literal may only specify known properties
  2561, // ... did you mean to write
  2554, // expected N arguments
  2724, // has no exported member, did you mean
  1005, // syntax: expected
  1128, // syntax: declaration or statement expected
]);

const options: Record<'ts' | 'js', ts.CompilerOptions> = {
  ts: {
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2023.d.ts'],
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    customConditions: ['@meshcache/source'],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
    experimentalDecorators: true,
  },
  js: {},
};
options.js = { ...options.ts, strict: false, allowJs: true, checkJs: true };

/** Each module an example imports, resolved from examples/ or, failing that, from a package. */
function resolve(name: string, from: string, compilerOptions: ts.CompilerOptions) {
  const homes = [from, ...readdirSync(join(root, 'packages')).map((p) => join(root, 'packages', p, 'src', 'x.ts'))];
  for (const containing of homes) {
    // Examples are ES modules (examples/ is "type": "module"): resolved as an import.
    const found = ts.resolveModuleName(
      name,
      containing,
      compilerOptions,
      ts.sys,
      undefined,
      undefined,
      ts.ModuleKind.ESNext,
    ).resolvedModule;
    if (found !== undefined) return found;
  }
  return undefined;
}

/** One program for all the blocks; returns each block's diagnostics, formatted. */
function typeCheck(blocks: readonly Block[], language: 'ts' | 'js'): Map<string, string[]> {
  const compilerOptions = options[language];
  const files = new Map<string, { block: Block; text: string; offset: number }>();
  const missing = new Map<string, Set<string>>();
  blocks.forEach((block, n) => {
    const file = join(home, `${String(n).padStart(3, '0')}.${language}`);
    // The context goes before the block, or around it where it says /* body */.
    const [before, after = ''] = block.context.split('/* body */');
    const prefix = before === '' ? '' : `${before}\n`;
    const text = `${prefix}${block.code}\n${after}\nexport {};\n`;
    files.set(file, { block, text, offset: prefix.split('\n').length - 1 });
    const parsed = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, false);
    for (const statement of parsed.statements) {
      if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue;
      const name = statement.moduleSpecifier.text;
      if (name.startsWith('.') || name.startsWith('node:') || name.startsWith('@meshcache/')) continue;
      if (resolve(name, file, compilerOptions) !== undefined) continue;
      const names = missing.get(name) ?? new Set<string>();
      missing.set(name, names);
      const bindings = statement.importClause?.namedBindings;
      if (statement.importClause?.name) names.add('default');
      if (bindings && ts.isNamedImports(bindings)) {
        for (const element of bindings.elements) names.add((element.propertyName ?? element.name).text);
      }
    }
  });
  // Third-party modules the workspace does not install: each name they are asked for is `any`,
  // as a value and as a type.
  const ambient = join(home, 'not-installed.d.ts');
  const ambientText = [...missing]
    .map(([name, names]) => {
      const members = [...names].map((n) =>
        n === 'default'
          ? 'const anything: any; export default anything;'
          : `export const ${n}: any; export type ${n} = any;`,
      );
      return `declare module '${name}' { ${members.join(' ')} }`;
    })
    .join('\n');
  const host = ts.createCompilerHost(compilerOptions);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, ...rest) => {
    const virtual = files.get(fileName)?.text ?? (fileName === ambient ? ambientText : undefined);
    if (virtual !== undefined) return ts.createSourceFile(fileName, virtual, languageVersion, true);
    return getSourceFile(fileName, languageVersion, ...rest);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (fileName) => files.has(fileName) || fileName === ambient || fileExists(fileName);
  host.resolveModuleNameLiterals = (literals, containingFile, _redirect, opts, containingSourceFile) =>
    literals.map((literal) => {
      const mode = ts.getModeForUsageLocation(containingSourceFile, literal, opts);
      const fromHome = files.has(containingFile) || containingFile === ambient;
      const found = fromHome
        ? resolve(literal.text, containingFile, opts)
        : ts.resolveModuleName(literal.text, containingFile, opts, ts.sys, undefined, undefined, mode).resolvedModule;
      return { resolvedModule: found };
    });
  const program = ts.createProgram([...files.keys(), ambient], compilerOptions, host);
  const found = new Map<string, string[]>();
  for (const [file, { block, offset }] of files) {
    const sourceFile = program.getSourceFile(file);
    const diagnostics = [...program.getSyntacticDiagnostics(sourceFile), ...program.getSemanticDiagnostics(sourceFile)];
    const problems = diagnostics
      // A property of `unknown` is no error in JavaScript (Fastify types request.params so).
      .filter((d) => language === 'ts' || (JS_ERRORS.has(d.code) && !/on type 'unknown'/.test(String(d.messageText))))
      .map((d) => {
        const at = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : 0;
        const line = at - offset + 1;
        const place = line >= 1 ? `block line ${line}` : `its context, line ${at + 1}`;
        return `${place}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      });
    found.set(block.where, problems);
  }
  return found;
}

const all = markdownFiles.flatMap(blocksOf);

describe('the code examples in the docs', () => {
  it('finds the examples (the extraction still reads the docs)', () => {
    expect(all.filter((b) => b.language === 'ts').length).toBeGreaterThan(10);
    expect(all.filter((b) => b.language === 'js').length).toBeGreaterThan(3);
    expect(dirname(home)).toBe(join(root, 'examples', 'src'));
  });

  for (const language of ['ts', 'js'] as const) {
    it(`every ${language} block type-checks against the public entry points`, () => {
      const checked = all.filter((b) => b.language === language && b.skipped === undefined);
      const results = typeCheck(checked, language);
      const failures = [...results].filter(([, problems]) => problems.length > 0);
      expect(failures.map(([where, problems]) => `${where}\n  ${problems.join('\n  ')}`).join('\n')).toBe('');
    }, 60_000);
  }

  it('every skipped block says why', () => {
    for (const block of all.filter((b) => b.skipped !== undefined)) {
      expect(block.skipped, block.where).not.toBe('no reason given');
    }
  });
});
