// Cuts a TOC's JSON, as it arrives, into runs of whole entries that JSON.parse can take one run
// at a time: a lookup then parses the entries that have arrived while the rest of the TOC is
// still on the wire (toc-stream.ts). Only the document shape every eStargz writer produces is
// followed — one object with a `version` of 1 and one `entries` array of objects, in either
// order, no other keys, no escapes in keys. Anything else gives up: the caller then parses the
// whole document with JSON.parse as before, which also reports the error, if any.
//
// Only the document's start (up to its first entry) and its end (from the last cut on) are
// scanned byte by byte, by a small state machine that follows strings and brackets. In between,
// a run ends at the last `}` that a comma and a `{` follow; such a `}` may also lie inside a
// string or a nested object, but then `[run]` is not valid JSON: JSON.parse, which the caller
// runs on every run, refuses it (a string or an object left open), and the caller gives up. A run
// it accepts is a list of whole values that starts where an entry starts, so it is exactly the
// next entries of the array. Runs are cut at ASCII bytes, so their UTF-8 decoding is that of the
// whole document.

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const DIGIT_ONE = 0x31;

/** Stands before the first entry's `{` (see #kept). */
const SPARE = Buffer.from(' ');

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

const State = {
  beforeDocument: 0,
  objectOpen: 1, // after `{`: a key or `}`
  key: 2,
  colon: 3,
  value: 4,
  version: 5, // inside the version's number token
  afterValue: 6,
  afterComma: 7, // a key must follow
  end: 8,
  arrayOpen: 9, // after `[`: an entry or `]`
  inEntry: 10,
  afterEntry: 11,
  afterEntryComma: 12, // an entry must follow
  failed: 13,
} as const;
type State = (typeof State)[keyof typeof State];

export class TocEntrySplitter {
  #state: State = State.beforeDocument;
  /** Why the document left the shape this follows (undefined while it has not). */
  #failure: string | undefined;
  #key = '';
  #versionToken = '';
  #sawVersion = false;
  #sawEntries = false;
  // Inside an entry, while scanning byte by byte:
  #depth = 0;
  #inString = false;
  #escaped = false;
  /** Past the first entry's `{`: runs are cut by looking back from the end (see above). */
  #cutting = false;
  /**
   * The bytes not handed out yet: one spare byte, then the next entry's `{` and on. The spare
   * byte is overwritten with `[`, and the byte after a run's last `}` with `]`, so that a run is
   * decoded straight into the text JSON.parse gets (a run wrapped in brackets as a string cost
   * +10 ms for 8 MB of TOC: JSON.parse copies such a string first). The bytes written over are
   * always the splitter's own: each push joins the kept bytes with the new ones into a copy.
   */
  #kept: Buffer[] = [];
  #keptBytes = 0;

  get failure(): string | undefined {
    return this.#failure;
  }

  /** Whether the whole document has been seen (after `end`), in the expected shape. */
  get complete(): boolean {
    return this.#state === State.end && this.#sawVersion && this.#sawEntries;
  }

  /**
   * Takes the next bytes of the JSON; returns the whole entries they complete as the text of one
   * JSON array (undefined if none), for the caller to JSON.parse.
   */
  push(bytes: Buffer): string | undefined {
    if (this.#state === State.failed) return undefined;
    if (this.#cutting) {
      if (bytes.length === 0) return undefined;
      this.#kept.push(bytes);
      this.#keptBytes += bytes.length;
      return this.#cut();
    }
    for (let i = 0; i < bytes.length; i++) {
      if (!this.#step(bytes[i])) return undefined;
      if (this.#state === State.inEntry) {
        // The first entry starts here: from now on, look for cuts instead of scanning.
        this.#cutting = true;
        this.#kept.push(SPARE, bytes.subarray(i));
        this.#keptBytes = 1 + bytes.length - i;
        return this.#cut();
      }
    }
    return undefined;
  }

  /** All bytes are in: scans what is left after the last cut; returns its entries, if any. */
  end(): string | undefined {
    if (!this.#cutting || this.#state === State.failed) return undefined;
    const rest = this.#joinKept();
    this.#kept = [];
    this.#keptBytes = 0;
    this.#cutting = false;
    this.#state = State.afterEntryComma; // after the spare byte, an entry's `{`
    let lastEntryEnd = 0;
    for (let i = 1; i < rest.length; i++) {
      if (this.#is(State.inEntry)) {
        i = this.#scanEntry(rest, i);
        if (this.#is(State.afterEntry)) lastEntryEnd = i + 1;
      } else if (!this.#step(rest[i])) return undefined;
    }
    // A complete document has `]` and `}` after its last entry: room for the closing bracket.
    if (lastEntryEnd === 0 || lastEntryEnd >= rest.length) return undefined;
    return this.#run(rest, lastEntryEnd);
  }

  /** (A method, so that TypeScript does not narrow the state across the scans that change it.) */
  #is(state: State): boolean {
    return this.#state === state;
  }

  /** The text of `[` + bytes [1, end) + `]`, written over the bytes at 0 and `end`. */
  #run(bytes: Buffer, end: number): string {
    bytes[0] = OPEN_BRACKET;
    bytes[end] = CLOSE_BRACKET;
    return bytes.toString('utf8', 0, end + 1);
  }

  /**
   * The run up to the last `}` followed by `,` and `{` (blanks between), if any. Only the newest
   * piece is searched for that `{` (the earlier ones were when they came), and the kept pieces
   * are joined only to hand out a run: an entry that spans many pieces costs one join, not one
   * per piece (a hostile TOC of one 200 MB string would otherwise be copied a thousand times).
   */
  #cut(): string | undefined {
    const newest = this.#kept[this.#kept.length - 1];
    const before = this.#keptBytes - newest.length;
    let at = newest.length;
    // A few tries only: each `{` that is not an entry's start (an xattrs object) is one more.
    for (let tries = 0; tries < 16 && at > 0; tries++) {
      at = newest.lastIndexOf(OPEN_BRACE, at - 1);
      // Kept byte 0 is the spare byte and 1 the run's first `{`: a cut needs a `}` after that.
      if (at < 0 || before + at <= 2) return undefined;
      const close = this.#closeBefore(before + at);
      if (close < 0) continue;
      const joined = this.#joinKept();
      const run = this.#run(joined, close + 1);
      this.#kept = [joined.subarray(before + at - 1)]; // the byte before the `{` is the next spare
      this.#keptBytes = this.#kept[0].length;
      return run;
    }
    return undefined;
  }

  /** Where the `}` is that blanks, one comma and blanks lead from to kept byte `pos`, or -1. */
  #closeBefore(pos: number): number {
    let piece = this.#kept.length - 1;
    let base = this.#keptBytes - this.#kept[piece].length;
    const byteAt = (p: number): number => {
      while (p < base) base -= this.#kept[--piece].length;
      return this.#kept[piece][p - base];
    };
    let k = pos - 1;
    while (k > 1 && isSpace(byteAt(k))) k--;
    if (byteAt(k) !== COMMA) return -1;
    k--;
    while (k > 1 && isSpace(byteAt(k))) k--;
    return byteAt(k) === CLOSE_BRACE ? k : -1;
  }

  #joinKept(): Buffer {
    return this.#kept.length === 1 ? this.#kept[0] : Buffer.concat(this.#kept);
  }

  /** Scans entry bytes from `i`; returns the index of the last byte it consumed. */
  #scanEntry(bytes: Buffer, i: number): number {
    let depth = this.#depth;
    let inString = this.#inString;
    let escaped = this.#escaped;
    for (; i < bytes.length; i++) {
      const b = bytes[i];
      if (inString) {
        if (escaped) escaped = false;
        else if (b === BACKSLASH) escaped = true;
        else if (b === QUOTE) inString = false;
      } else if (b === QUOTE) inString = true;
      else if (b === OPEN_BRACE || b === OPEN_BRACKET) depth++;
      else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
        if (--depth === 0) {
          this.#state = State.afterEntry;
          break;
        }
      }
    }
    this.#depth = depth;
    this.#inString = inString;
    this.#escaped = escaped;
    return i;
  }

  /** One byte outside the entries. False when the document left the expected shape. */
  #step(b: number): boolean {
    switch (this.#state) {
      case State.beforeDocument:
        if (b === OPEN_BRACE) this.#state = State.objectOpen;
        else if (!isSpace(b)) return this.#fail('the TOC does not start with an object');
        return true;
      case State.objectOpen:
      case State.afterComma:
        if (b === QUOTE) {
          this.#key = '';
          this.#state = State.key;
        } else if (b === CLOSE_BRACE && this.#state === State.objectOpen) this.#state = State.end;
        else if (!isSpace(b)) return this.#fail('expected a key');
        return true;
      case State.key:
        if (b === QUOTE) this.#state = State.colon;
        else if (b === BACKSLASH || this.#key.length > 8) return this.#fail('unexpected key');
        else this.#key += String.fromCharCode(b);
        return true;
      case State.colon:
        if (b === COLON) this.#state = State.value;
        else if (!isSpace(b)) return this.#fail('expected a colon');
        return true;
      case State.value:
        return this.#startValue(b);
      case State.version:
        if (
          (b >= 0x30 && b <= 0x39) ||
          b === 0x2e ||
          b === 0x65 ||
          b === 0x45 ||
          b === 0x2b ||
          b === 0x2d
        ) {
          this.#versionToken += String.fromCharCode(b);
          return true;
        }
        if (this.#versionToken !== '1') return this.#fail('version is not 1');
        this.#state = State.afterValue;
        return this.#step(b);
      case State.afterValue:
        if (b === COMMA) this.#state = State.afterComma;
        else if (b === CLOSE_BRACE) this.#state = State.end;
        else if (!isSpace(b)) return this.#fail('expected a comma or the end of the object');
        return true;
      case State.end:
        return isSpace(b) || this.#fail('bytes after the TOC object');
      case State.arrayOpen:
      case State.afterEntryComma:
        if (b === OPEN_BRACE) this.#startEntry();
        else if (b === CLOSE_BRACKET && this.#state === State.arrayOpen) {
          this.#state = State.afterValue;
        } else if (!isSpace(b)) return this.#fail('an entry is not an object');
        return true;
      case State.afterEntry:
        if (b === COMMA) this.#state = State.afterEntryComma;
        else if (b === CLOSE_BRACKET) this.#state = State.afterValue;
        else if (!isSpace(b)) return this.#fail('expected a comma or the end of the entries');
        return true;
      default:
        return false;
    }
  }

  #startValue(b: number): boolean {
    if (isSpace(b)) return true;
    if (this.#key === 'entries' && !this.#sawEntries) {
      if (b !== OPEN_BRACKET) return this.#fail('entries is not an array');
      this.#sawEntries = true;
      this.#state = State.arrayOpen;
      return true;
    }
    if (this.#key === 'version' && !this.#sawVersion && b === DIGIT_ONE) {
      this.#sawVersion = true;
      this.#versionToken = '1';
      this.#state = State.version;
      return true;
    }
    return this.#fail(`unexpected key or value for ${JSON.stringify(this.#key)}`);
  }

  #startEntry(): void {
    this.#depth = 1;
    this.#inString = false;
    this.#escaped = false;
    this.#state = State.inEntry;
  }

  #fail(why: string): false {
    this.#failure = why;
    this.#state = State.failed;
    this.#kept = [];
    this.#keptBytes = 0;
    return false;
  }
}
