import { Worker } from 'node:worker_threads';
import { messages, Mutex, PGlite, protocol } from '@electric-sql/pglite';

/** Sent to the worker thread (pglite-worker-thread.ts). */
export type ThreadRequest = { kind: 'run'; id: number; message: Uint8Array } | { kind: 'close' };
/** Sent back by it: the raw answer to a wire-protocol message, or a state change. */
export type ThreadReply =
  | { kind: 'data'; id: number; data: Uint8Array }
  | { kind: 'error'; id: number; message: string }
  | { kind: 'ready' }
  | { kind: 'failed'; message: string }
  | { kind: 'closed' };

type ProtocolOptions = { throwOnError?: boolean; onNotice?: (notice: messages.NoticeMessage) => void };

/**
 * PGlite's base class: query, exec and transaction written over execProtocol
 * (wire-protocol messages in, raw answers out), as PGlite's own worker client
 * uses it. The package exports it only as PGlite's parent class.
 */
const BasePGlite = Object.getPrototypeOf(PGlite) as abstract new () => Pick<PGlite, 'query' | 'exec' | 'transaction'> & {
  _initArrayTypes(): Promise<void>;
};

/**
 * Opens the embedded database in a worker thread of its own and returns a
 * handle with PGlite's query, exec and transaction. PGlite executes SQL
 * synchronously in the thread that holds it: about half of the server's CPU
 * under read load (the WebAssembly engine and its file system calls). Here
 * that runs on the worker, beside the server's JavaScript, so on two cores
 * the two overlap; the server's thread still builds the wire messages and
 * parses the answers (the same code PGlite runs), and each message is one
 * round trip between the threads. Statements run one at a time, in order,
 * as on PGlite itself.
 * @param dir the database's directory
 */
export async function openPGliteInWorker(dir: string): Promise<PGlite> {
  const pglite = new PGliteInWorker(dir);
  await pglite.waitReady;
  await pglite._initArrayTypes();
  return pglite as unknown as PGlite;
}

/**
 * The thread's entry: Node 20 does not apply the loader hooks of `--import tsx`
 * to worker threads, so the thread registers tsx itself, then loads its module.
 */
const threadBootstrap = new URL(
  `data:text/javascript,${encodeURIComponent(
    `import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))};
     register();
     await import(${JSON.stringify(import.meta.resolve('./pglite-worker-thread.ts'))});`,
  )}`,
);

class PGliteInWorker extends BasePGlite {
  readonly debug = 0;
  readonly waitReady: Promise<void>;
  readonly #worker: Worker;
  readonly #waiting = new Map<number, { resolve(data: Uint8Array): void; reject(error: Error): void }>();
  readonly #queryMutex = new Mutex();
  readonly #transactionMutex = new Mutex();
  #parser = new protocol.Parser();
  #nextId = 0;
  /** Set once the thread has failed or closed: every later call is refused with it. */
  #ended: Error | undefined;
  #closed: (() => void) | undefined;

  constructor(dir: string) {
    super();
    // No inherited --import preloads: TypeScript ones (a profiler hook) would fail before the thread has registered tsx.
    this.#worker = new Worker(threadBootstrap, { workerData: dir, execArgv: [] });
    // The thread keeps the process alive only while a statement is waiting for it (see #idle).
    this.#worker.unref();
    this.waitReady = new Promise((resolve, reject) => {
      this.#worker.on('message', (reply: ThreadReply) => {
        if (reply.kind === 'ready') resolve();
        else if (reply.kind === 'failed') reject(this.#end(new Error(reply.message)));
        else if (reply.kind === 'closed') this.#closed?.();
        else this.#answer(reply);
      });
      this.#worker.on('error', (error) => reject(this.#end(error)));
      this.#worker.on('exit', () => reject(this.#end(new Error('PGlite is closed'))));
    });
  }

  /** Runs one wire-protocol message in the worker; resolves with PostgreSQL's raw answer. */
  execProtocolRaw(message: Uint8Array): Promise<Uint8Array> {
    if (this.#ended) return Promise.reject(this.#ended);
    const id = this.#nextId++;
    if (this.#waiting.size === 0) this.#worker.ref();
    const answer = new Promise<Uint8Array>((resolve, reject) => this.#waiting.set(id, { resolve, reject }));
    this.#worker.postMessage({ kind: 'run', id, message } satisfies ThreadRequest);
    return answer;
  }

  async execProtocol(message: Uint8Array, options: ProtocolOptions = {}) {
    const data = await this.execProtocolRaw(message);
    return { messages: this.#parse(data, options), data };
  }

  async execProtocolStream(message: Uint8Array, options: ProtocolOptions = {}) {
    return this.#parse(await this.execProtocolRaw(message), options);
  }

  async execProtocolRawStream(message: Uint8Array, { onRawData }: { onRawData(data: Uint8Array): void }) {
    onRawData(await this.execProtocolRaw(message));
  }

  /** The worker's PGlite syncs its file system after every message it runs. */
  async syncToFs() {}

  async _handleBlob() {}
  async _getWrittenBlob() {
    return undefined;
  }
  async _cleanupBlob() {}

  async _checkReady() {
    await this.waitReady;
    if (this.#ended) throw this.#ended;
  }

  _runExclusiveQuery<T>(work: () => Promise<T>): Promise<T> {
    return this.#queryMutex.runExclusive(work);
  }

  _runExclusiveTransaction<T>(work: () => Promise<T>): Promise<T> {
    return this.#transactionMutex.runExclusive(work);
  }

  async listen(): Promise<never> {
    throw new Error('LISTEN is not offered by the embedded database in a worker thread');
  }

  /** Waits for the statements sent, closes PGlite (its files complete) and ends the thread. */
  async close(): Promise<void> {
    if (this.#ended) return;
    const closed = new Promise<void>((resolve) => (this.#closed = resolve));
    this.#worker.ref();
    this.#worker.postMessage({ kind: 'close' } satisfies ThreadRequest);
    await closed;
    this.#end(new Error('PGlite is closed'));
  }

  /** The answer's messages, as PGlite's own execProtocol gives them: the first database error is thrown after the whole answer is read. */
  #parse(data: Uint8Array, { throwOnError = true, onNotice }: ProtocolOptions): messages.BackendMessage[] {
    const results: messages.BackendMessage[] = [];
    let databaseError: messages.DatabaseError | undefined;
    this.#parser.parse(data, (message) => {
      if (databaseError) return;
      if (message instanceof messages.DatabaseError && throwOnError) databaseError = message;
      else if (message instanceof messages.NoticeMessage) onNotice?.(message);
      results.push(message);
    });
    if (databaseError) {
      this.#parser = new protocol.Parser();
      throw databaseError;
    }
    return results;
  }

  #answer(reply: Extract<ThreadReply, { id: number }>): void {
    const waiter = this.#waiting.get(reply.id);
    this.#waiting.delete(reply.id);
    this.#idle();
    if (reply.kind === 'data') waiter?.resolve(reply.data);
    else waiter?.reject(new Error(reply.message));
  }

  #idle(): void {
    if (this.#waiting.size === 0) this.#worker.unref();
  }

  /** Refuses everything waiting and everything after, and ends the thread: a failed engine fails closed. */
  #end(error: Error): Error {
    if (!this.#ended) void this.#worker.terminate();
    this.#ended ??= error;
    for (const waiter of this.#waiting.values()) waiter.reject(this.#ended);
    this.#waiting.clear();
    this.#idle();
    return this.#ended;
  }
}
