/**
 * The XMPP side of the relay benchmark's load client: one c2s stream per device over raw TCP (no TLS):
 * stream open, SASL PLAIN, resource bind, session, initial presence, then `<message>` stanzas whose
 * body carries the message id and its send time. Incoming data is scanned for bodies as it streams in,
 * without building a DOM, so the client stays cheap next to the server it measures. Passwords are
 * throwaway benchmark secrets: never logged.
 */
import { Socket, createConnection } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { BenchClient } from './loadRun';

/** 200-character bodies: the id (36), a space, the send time, a space, then padding. */
const BODY_LENGTH = 200;
const STREAM_OPEN = (host: string) => `<?xml version='1.0'?><stream:stream to='${host}' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`;
const BODY_OPEN = '<body>';
const BODY_CLOSE = '</body>';
const PING_ID = 'ping';
const PING_ANSWER = new RegExp(`id=["']${PING_ID}["']`, 'g');

export class XmppError extends Error {
  constructor(readonly code: 'XMPP_LOGIN_FAILED' | 'XMPP_STREAM_ERROR', message: string) {
    super(message);
    this.name = 'XmppError';
  }
}

export interface XmppAccount {
  readonly user: string;
  readonly password: string;
}

/** One device's XMPP stream, past login: sends messages, reports each body that arrives. */
export class XmppSocket implements BenchClient {
  onMessage: (id: string, arrivedAt: number) => void = () => undefined;
  /** Stream errors and unexpected closes: a run with any of them fails. */
  readonly errors: string[] = [];
  #pending = '';
  #pings: (() => void)[] = [];
  #closed = false;

  private constructor(private readonly socket: Socket, private readonly host: string, private readonly userOf: (device: number) => string) {
    socket.on('data', (chunk: Buffer) => this.#scan(chunk.toString('utf8'), performance.now()));
    socket.on('error', (error) => this.errors.push(error.message));
    socket.once('close', () => {
      if (!this.#closed) this.errors.push('server closed the stream');
    });
  }

  /**
   * Connects to 127.0.0.1:`port` and logs in as `account` (resource `bench`); resolves once initial
   * presence is sent, after which Prosody delivers what it stored offline. `userOf` names device i's account.
   */
  static async connect(port: number, host: string, account: XmppAccount, userOf: (device: number) => string, onMessage?: (id: string, at: number) => void): Promise<XmppSocket> {
    const socket = createConnection({ host: '127.0.0.1', port, noDelay: true });
    const login = new LoginDialogue(socket);
    await login.next(/<\/stream:features>/, STREAM_OPEN(host));
    const plain = Buffer.from(`\0${account.user}\0${account.password}`).toString('base64');
    const auth = await login.next(/<success|<failure/, `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${plain}</auth>`);
    if (!auth.includes('<success')) throw login.fail(`login as ${account.user} refused`);
    await login.next(/<\/stream:features>/, STREAM_OPEN(host));
    await login.next(/id=["']bind["']/, `<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind></iq>`);
    await login.next(/id=["']session["']/, `<iq type='set' id='session'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>`);
    login.end();
    const xmpp = new XmppSocket(socket, host, userOf);
    if (onMessage) xmpp.onMessage = onMessage;
    socket.write('<presence/>');
    return xmpp;
  }

  /** A 200-character chat message to device `to`'s bare JID (delivered if online, stored offline if not). */
  send(id: string, to: number): void {
    const head = `${id} ${performance.now().toFixed(3)} `;
    this.socket.write(`<message to='${this.userOf(to)}@${this.host}' type='chat'><body>${head.padEnd(BODY_LENGTH, 'x')}</body></message>`);
  }

  /** Resolves when the server answers a ping sent now: it handles a stream's stanzas in order, so all sent before are done. */
  ping(): Promise<void> {
    return new Promise((resolve) => {
      this.#pings.push(resolve);
      this.socket.write(`<iq type='get' id='${PING_ID}'><ping xmlns='urn:xmpp:ping'/></iq>`);
    });
  }

  terminate(): void {
    this.#closed = true;
    this.socket.destroy();
  }

  /**
   * Finds each `<body>` in the stream as it arrives. Only bodies, ping results and stream errors matter;
   * a tag cut between two chunks waits in `#pending` for the rest.
   */
  #scan(chunk: string, at: number): void {
    const text = this.#pending + chunk;
    let from = 0;
    for (;;) {
      const open = text.indexOf(BODY_OPEN, from);
      if (open < 0) break;
      const close = text.indexOf(BODY_CLOSE, open);
      if (close < 0) {
        this.#pending = text.slice(open);
        this.#scanControl(text.slice(from, open));
        return;
      }
      const start = open + BODY_OPEN.length;
      this.onMessage(text.slice(start, text.indexOf(' ', start)), at);
      this.#scanControl(text.slice(from, open));
      from = close + BODY_CLOSE.length;
    }
    // Keep what could be the start of a `<body>` or of a control tag cut by the chunk boundary.
    const rest = text.slice(from);
    const lastTag = rest.lastIndexOf('<');
    this.#pending = lastTag >= 0 && rest.indexOf('>', lastTag) < 0 ? rest.slice(lastTag) : '';
    this.#scanControl(lastTag >= 0 && this.#pending ? rest.slice(0, lastTag) : rest);
  }

  /** Ping results and stream errors between bodies (message envelopes and presence are skipped). */
  #scanControl(text: string): void {
    if (text.length === 0 || !text.includes('<')) return;
    for (const _answer of text.matchAll(PING_ANSWER)) this.#pings.shift()?.();
    if (text.includes('<stream:error')) this.errors.push(`stream error: ${text.slice(text.indexOf('<stream:error'), 300)}`);
  }
}

/** The login steps: write a stanza, wait until what the server sent matches. */
class LoginDialogue {
  #received = '';
  #wake: () => void = () => undefined;
  #error: Error | undefined;
  readonly #onData = (chunk: Buffer) => {
    this.#received += chunk.toString('utf8');
    this.#wake();
  };
  readonly #onError = (error: Error) => {
    this.#error = error;
    this.#wake();
  };

  constructor(private readonly socket: Socket) {
    socket.on('data', this.#onData);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
  }

  readonly #onClose = () => this.#onError(new XmppError('XMPP_STREAM_ERROR', 'server closed the stream during login'));

  /** Writes `stanza` and returns what arrived up to and including `until`. */
  async next(until: RegExp, stanza: string): Promise<string> {
    this.socket.write(stanza);
    for (;;) {
      if (this.#error) throw this.#error;
      const match = until.exec(this.#received);
      if (match) {
        const end = this.#received.indexOf('>', match.index) + 1;
        const answer = this.#received.slice(0, end);
        this.#received = this.#received.slice(end);
        if (answer.includes('<stream:error')) throw this.fail('stream error during login');
        return answer;
      }
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  fail(what: string): XmppError {
    this.end();
    this.socket.destroy();
    return new XmppError('XMPP_LOGIN_FAILED', `${what}: ${this.#received.slice(0, 300)}`);
  }

  end(): void {
    this.socket.off('data', this.#onData);
    this.socket.off('error', this.#onError);
    this.socket.off('close', this.#onClose);
  }
}
