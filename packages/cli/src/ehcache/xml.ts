/**
 * A small element tree from saxes (a strict, well-formedness-checking XML parser), with the line
 * of every element, attribute and `key=value` property inside an attribute, so the importer can
 * say where each thing it did not convert stands in the file. Parsing is saxes' alone; the raw
 * text is only looked at to find where an attribute (or a property in it) starts, because saxes
 * reports the position after an attribute, and normalises the newlines inside its value.
 */
import { SaxesParser } from 'saxes';

export interface XmlAttribute {
  readonly name: string;
  /** As XML defines it: entities decoded, newlines and tabs as spaces. */
  readonly value: string;
  readonly line: number;
  /** The value as written in the file (between the quotes), and where it starts. */
  readonly raw: string;
  readonly rawOffset: number;
}

export interface XmlElement {
  readonly name: string;
  readonly line: number;
  readonly attributes: readonly XmlAttribute[];
  readonly children: XmlElement[];
  /** Text directly inside the element, trimmed ('' for none). */
  text: string;
  /** The line its first text that is not white space stands on; undefined when it has none. */
  textLine?: number;
}

/** A document that is not well-formed XML; the message says file:line:column. */
export class XmlSyntaxError extends Error {
  override readonly name = 'XmlSyntaxError';
}

/** Line numbers (1-based) of character offsets in one text. */
export class LineIndex {
  readonly #starts: number[] = [0];

  constructor(text: string) {
    // XML's line ends (1.0 section 2.11): LF, CR LF, and a CR alone (classic Mac files), as saxes counts them.
    for (let i = 0; i < text.length; i++) {
      const char = text.charCodeAt(i);
      if (char === 0x0a || (char === 0x0d && text.charCodeAt(i + 1) !== 0x0a)) this.#starts.push(i + 1);
    }
  }

  lineOf(offset: number): number {
    let low = 0;
    let high = this.#starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((this.#starts[middle] ?? 0) <= offset) low = middle;
      else high = middle - 1;
    }
    return low + 1;
  }
}

function isSpace(char: string | undefined): boolean {
  return char === ' ' || char === '\t' || char === '\n' || char === '\r';
}

/** Where each attribute of a start tag starts, read from the tag as written (`<name a="1" b='2'>`). */
function attributeSpans(tag: string): Map<string, { offset: number; raw: string; rawOffset: number }> {
  const spans = new Map<string, { offset: number; raw: string; rawOffset: number }>();
  let i = tag.indexOf('<') + 1;
  while (i < tag.length && !isSpace(tag[i]) && tag[i] !== '>' && tag[i] !== '/') i++; // the element's name
  while (i < tag.length) {
    while (isSpace(tag[i])) i++;
    if (tag[i] === '>' || tag[i] === '/' || i >= tag.length) break;
    const start = i;
    while (i < tag.length && !isSpace(tag[i]) && tag[i] !== '=') i++;
    const name = tag.slice(start, i);
    while (isSpace(tag[i])) i++;
    i++; // '='
    while (isSpace(tag[i])) i++;
    const quote = tag[i];
    const valueStart = i + 1;
    const valueEnd = quote === undefined ? tag.length : tag.indexOf(quote, valueStart);
    spans.set(name, { offset: start, raw: tag.slice(valueStart, valueEnd), rawOffset: valueStart });
    i = valueEnd + 1;
  }
  return spans;
}

/** Parses a whole document. @throws XmlSyntaxError naming file:line:column. */
export function parseXml(text: string, fileName: string): { root: XmlElement; lines: LineIndex } {
  const lines = new LineIndex(text);
  const parser = new SaxesParser({ fileName });
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let tagStart = 0;
  /** Where the last event's text ended: a text chunk is read from there (a comment or tag before it is passed). */
  let lastEnd = 0;
  for (const event of ['comment', 'processinginstruction'] as const) {
    parser.on(event, () => {
      lastEnd = parser.position;
    });
  }
  parser.on('opentagstart', (tag) => {
    tagStart = Math.max(0, text.lastIndexOf(`<${tag.name}`, parser.position));
  });
  parser.on('opentag', (tag) => {
    const spans = attributeSpans(text.slice(tagStart, parser.position));
    const attributes: XmlAttribute[] = Object.entries(tag.attributes).map(([name, value]) => {
      const span = spans.get(name);
      return {
        name,
        value: String(value),
        line: lines.lineOf(tagStart + (span?.offset ?? 0)),
        raw: span?.raw ?? String(value),
        rawOffset: tagStart + (span?.rawOffset ?? 0),
      };
    });
    const element: XmlElement = { name: tag.name, line: lines.lineOf(tagStart), attributes, children: [], text: '' };
    const parent = stack.at(-1);
    if (parent === undefined) root = element;
    else parent.children.push(element);
    stack.push(element);
    lastEnd = parser.position;
  });
  parser.on('closetag', () => {
    const element = stack.pop();
    if (element !== undefined) element.text = element.text.trim();
    lastEnd = parser.position;
  });
  const addText = (chunk: string) => {
    const element = stack.at(-1);
    if (element !== undefined) {
      element.text += chunk;
      if (element.textLine === undefined && chunk.trim() !== '') {
        const raw = text.slice(lastEnd, parser.position);
        const lead = raw.length - raw.trimStart().length;
        element.textLine = lines.lineOf(lastEnd + lead);
      }
    }
    lastEnd = parser.position;
  };
  parser.on('text', addText);
  parser.on('cdata', addText);
  let declaresEntities = false;
  parser.on('doctype', (doctype) => {
    declaresEntities ||= doctype.includes('<!ENTITY');
  });
  try {
    parser.write(text).close();
  } catch (error) {
    const message = (error as Error).message;
    // saxes reads no DTD, so an entity the file declares itself is "undefined": say why.
    throw new XmlSyntaxError(
      declaresEntities && message.includes('undefined entity')
        ? `${message} Entities declared in the DOCTYPE are not read (nor any DTD: no external files, no expansion bombs); write their text in place`
        : message,
    );
  }
  if (root === undefined) throw new XmlSyntaxError(`${fileName}:1:0: document must contain a root element.`);
  return { root, lines };
}
