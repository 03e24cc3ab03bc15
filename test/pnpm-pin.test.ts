/**
 * Every pnpm command a person or a script is told to run names the pinned version, as
 * `npx --yes pnpm@VERSION` with VERSION from package.json's packageManager. `npx pnpm@10` fetches
 * the newest 10.x, which refuses to switch to the pinned one on a fresh machine; a bare `pnpm`
 * needs a global install nobody promised; npx without --yes waits at a prompt.
 *
 * Where commands are: in every tracked .md file, the code (fenced blocks and `inline` spans) and
 * any prose that reads as a pnpm command; in every package.json, the scripts.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const pinned = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { packageManager: string })
  .packageManager;
const tracked = execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean);

/** The word pnpm as a command: not pnpm-lock.yaml, pnpm-workspace.yaml, @pnpm/..., .pnpm. */
const PNPM = /(?<![\w@./-])pnpm(?![\w-])/g;
/** Prose that reads as a command: pnpm followed by one of its subcommands or flags. */
const COMMAND_IN_PROSE =
  /(?<![\w@./-])pnpm(@\S+)? (install|i|add|run|exec|dlx|pack|publish|test|build|-r|--filter|--recursive)\b/;

interface Found {
  readonly where: string;
  readonly text: string;
}

/** Each occurrence of pnpm in `text` that is not `npx --yes ${pinned}`. */
function unpinned(text: string, where: string): Found[] {
  const found: Found[] = [];
  for (const match of text.matchAll(PNPM)) {
    const start = match.index ?? 0;
    const before = text.slice(Math.max(0, start - 'npx --yes '.length), start);
    const next = text[start + pinned.length] ?? '';
    const pinnedHere = before === 'npx --yes ' && text.startsWith(pinned, start) && !/[\w.]/.test(next);
    if (!pinnedHere) {
      const lineStart = text.lastIndexOf('\n', start) + 1;
      const lineEnd = text.indexOf('\n', start);
      found.push({ where, text: text.slice(lineStart, lineEnd < 0 ? undefined : lineEnd).trim() });
    }
  }
  return found;
}

/** The code of a Markdown file (fenced blocks and inline spans), and its prose lines that read as commands. */
function commandsOfMarkdown(markdown: string): string[] {
  const pieces: string[] = [];
  const withoutFences = markdown.replace(/^(```|~~~)[^\n]*\n([\s\S]*?)^\1\s*$/gm, (_, _fence, body: string) => {
    pieces.push(body);
    return '';
  });
  for (const span of withoutFences.matchAll(/`([^`\n]+)`/g)) pieces.push(span[1] as string);
  for (const line of withoutFences.replace(/`[^`\n]+`/g, '').split('\n')) {
    if (COMMAND_IN_PROSE.test(line)) pieces.push(line);
  }
  return pieces;
}

function invocations(): { count: number; bad: Found[] } {
  let count = 0;
  const bad: Found[] = [];
  for (const file of tracked.filter((f) => f.endsWith('.md'))) {
    for (const piece of commandsOfMarkdown(readFileSync(join(root, file), 'utf8'))) {
      count += [...piece.matchAll(PNPM)].length;
      bad.push(...unpinned(piece, file));
    }
  }
  for (const file of tracked.filter((f) => f === 'package.json' || f.endsWith('/package.json'))) {
    const scripts = (JSON.parse(readFileSync(join(root, file), 'utf8')) as { scripts?: Record<string, string> })
      .scripts;
    for (const [name, script] of Object.entries(scripts ?? {})) {
      count += [...script.matchAll(PNPM)].length;
      bad.push(...unpinned(script, `${file} scripts.${name}`));
    }
  }
  return { count, bad };
}

describe('pnpm commands in the docs and package.json scripts', () => {
  it(`all name the pinned version (npx --yes ${pinned})`, () => {
    expect(pinned).toMatch(/^pnpm@\d+\.\d+\.\d+$/);
    const { count, bad } = invocations();
    expect(bad).toEqual([]);
    expect(count).toBeGreaterThan(20); // the README, CONTRIBUTING, bench/README.md, docs/ and the root scripts have them
  });

  it('finds the invocations that are not pinned', () => {
    const sample = [
      '```sh',
      'npx pnpm@10 install',
      'pnpm run build',
      'npx pnpm@10.34.8 install',
      `npx --yes ${pinned} install`,
      `npx --yes ${pinned}.1 install`,
      '```',
      'Run `pnpm -r test` first; the lockfile is `pnpm-lock.yaml`.',
      'Or run pnpm install by hand.',
      'pnpm is pinned (prose, not a command).',
    ].join('\n');
    const bad = commandsOfMarkdown(sample).flatMap((piece) => unpinned(piece, 'sample'));
    expect(bad.map((b) => b.text)).toEqual([
      'npx pnpm@10 install',
      'pnpm run build',
      'npx pnpm@10.34.8 install',
      `npx --yes ${pinned}.1 install`,
      'pnpm -r test',
      'Or run pnpm install by hand.',
    ]);
  });
});
