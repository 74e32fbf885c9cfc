import { Agent, type ClientRequest, request as httpRequest } from 'node:http';
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { describeRequest, type FuzzRequest, type FuzzWorld, generateRequest, leakPatterns, type TokenKind } from './fuzz-requests.ts';

/*
 * Sends generated requests and judges every answer. Runs in a worker thread
 * (runFuzzInWorker), so generating, sending and checking 10,000 requests does
 * not compete with the server under test for its event loop.
 */

export interface FuzzOptions {
  /** http://host:port of the server under test. */
  origin: string;
  seed: number;
  /** Which requests of the seed's sequence to send. */
  indexes: number[];
  concurrency: number;
  world: FuzzWorld;
  /** A signed token of every kind the generator names (signed by the test's identity provider key). */
  tokens: Record<TokenKind, string>;
}

export interface FuzzSummary {
  sent: number;
  seconds: number;
  byStatus: Record<string, number>;
  /** Per request kind: how many got each status and error codes. */
  byKind: Record<string, Record<string, number>>;
  /** Per request kind: milliseconds in total and the slowest. */
  latency: Record<string, { total: number; max: number; n: number }>;
  /** Distinct problems: how often, for which request kinds, and up to four reproducible requests (of different kinds where possible). */
  problems: Record<string, { count: number; kinds: Record<string, number>; examples: { kind: string; text: string }[] }>;
  /** Requests refused for their token (HTTP 401 or 403): the request id the server gave each, and the request's number. */
  refusals: { requestId: string; index: number }[];
}

interface Answer {
  status: number;
  text: string;
  contentType: string | null;
  requestId: string | null;
}

const agents = new Map<string, Agent>();

/**
 * Sends one request with node:http (lighter than fetch, and it sends odd
 * paths as they are, without normalising them) over kept-alive connections.
 */
function send(request: FuzzRequest, options: FuzzOptions): Promise<Answer | { failure: string }> {
  const headers: Record<string, string> = { ...request.headers };
  if (request.token !== 'none') headers.authorization = `Bearer ${options.tokens[request.token]}`;
  const body = request.body === undefined ? undefined : typeof request.body === 'string' ? Buffer.from(request.body) : request.body;
  if (body) headers['content-length'] = String(body.length);
  let agent = agents.get(options.origin);
  if (!agent) agents.set(options.origin, (agent = new Agent({ keepAlive: true, maxSockets: options.concurrency })));
  const { hostname, port } = new URL(options.origin);
  return new Promise((resolve) => {
    const failed = (error: Error & { code?: string }) => resolve({ failure: `${error.code ?? error.name}: ${error.message}` });
    let outgoing: ClientRequest;
    try {
      outgoing = httpRequest({ host: hostname, port, method: request.method, path: request.path, headers, agent, timeout: 30_000 }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', failed);
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
            contentType: response.headers['content-type'] ?? null,
            requestId: typeof response.headers['x-request-id'] === 'string' ? response.headers['x-request-id'] : null,
          }),
        );
      });
    } catch (error) {
      // Refused by the client itself (an illegal header or path): a generator bug, not the server's.
      return failed(error as Error);
    }
    outgoing.on('timeout', () => outgoing.destroy(Object.assign(new Error('no answer within 30 s'), { code: 'TIMEOUT' })));
    outgoing.on('error', failed);
    outgoing.end(body);
  });
}

/** Every key and string in a JSON value (iteratively: bodies can nest deeply), as a client reads them (escapes decoded). */
function strings(value: unknown): string[] {
  const out: string[] = [];
  const stack = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === 'string') out.push(item);
    else if (item && typeof item === 'object') {
      for (const [key, child] of Object.entries(item)) {
        out.push(key);
        stack.push(child);
      }
    }
  }
  return out;
}

/** Everything the client sent, raw and decoded, to tell a quoted-back input from a leak. */
function sentText(request: FuzzRequest): string {
  const body = request.body === undefined ? '' : typeof request.body === 'string' ? request.body : Buffer.from(request.body).toString('latin1');
  let decoded = '';
  try {
    decoded = strings(JSON.parse(body)).join('\n');
  } catch {}
  let path = '';
  try {
    path = decodeURIComponent(request.path);
  } catch {}
  return [request.path, path, JSON.stringify(request.headers), body, decoded].join('\n');
}

/** The error codes of an answer (empty when it has none or is not JSON). */
function codesOf(body: unknown): string[] {
  const errors = (body as { errors?: unknown } | null)?.errors;
  return Array.isArray(errors) ? errors.map((error) => String(error?.extensions?.code)) : [];
}

/** What is wrong with one answer, as short problem names (none when nothing is). */
export function problemsOf(request: FuzzRequest, answer: Answer | { failure: string }): string[] {
  if ('failure' in answer) return [`no answer: ${answer.failure}`];
  // Development mode sends a browser's GET to GraphiQL (README "Console"): the one answer that is not JSON.
  if (request.method === 'GET' && /text\/html/.test(request.headers.accept ?? '') && answer.status === 302) return [];
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    return [`HTTP ${answer.status} body is not JSON (${answer.contentType})`];
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return [`HTTP ${answer.status} body is not a GraphQL response object`];
  const problems: string[] = [];
  const { data, errors } = body as { data?: unknown; errors?: unknown };
  if (errors !== undefined) {
    if (!Array.isArray(errors) || errors.length === 0) problems.push(`HTTP ${answer.status} errors is not a non-empty list`);
    else if (!errors.every((error) => typeof error?.extensions?.code === 'string')) problems.push(`HTTP ${answer.status} error without extensions.code`);
    if (codesOf(body).includes('INTERNAL_SERVER_ERROR')) problems.push(`HTTP ${answer.status} INTERNAL_SERVER_ERROR`);
  } else {
    if (data === undefined || data === null) problems.push(`HTTP ${answer.status} neither data nor errors`);
    if (answer.status !== 200) problems.push(`HTTP ${answer.status} without errors`);
  }
  if (answer.status >= 500) problems.push(`HTTP ${answer.status} ${codesOf(body).join('+')}`.trim());
  if (!/^application\/(?:graphql-response\+)?json\b/.test(answer.contentType ?? '')) problems.push(`HTTP ${answer.status} content-type ${answer.contentType}`);
  const seen = `${answer.text}\n${strings(body).join('\n')}`;
  let sent: string | undefined;
  for (const [name, pattern] of leakPatterns) {
    if (!pattern.test(seen)) continue;
    // What the client sent and gets quoted back is no leak.
    sent ??= sentText(request);
    if (!pattern.test(sent)) problems.push(`leak: ${name} (${seen.match(pattern)![0].slice(0, 60)})`);
  }
  return problems;
}

/** Sends the requests with at most `concurrency` in flight and sums up what came back. */
export async function runFuzz(options: FuzzOptions): Promise<FuzzSummary> {
  const summary: FuzzSummary = { sent: 0, seconds: 0, byStatus: {}, byKind: {}, latency: {}, problems: {}, refusals: [] };
  const add = (problem: string, kind: string, example: string) => {
    const entry = (summary.problems[problem] ??= { count: 0, kinds: {}, examples: [] });
    entry.count++;
    entry.kinds[kind] = (entry.kinds[kind] ?? 0) + 1;
    const newKind = !entry.examples.some((seen) => seen.kind === kind);
    if (entry.examples.length < 2 || (entry.examples.length < 4 && newKind)) entry.examples.push({ kind, text: example });
  };
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < options.indexes.length) {
      const index = options.indexes[next++]!;
      let request: FuzzRequest;
      try {
        request = generateRequest(options.seed, index, options.world);
      } catch (error) {
        add(`generator failed: ${error}`, 'generator', `#${index} (FUZZ_SEED=${options.seed})`);
        continue;
      }
      const sentAt = performance.now();
      const answer = await send(request, options);
      const ms = performance.now() - sentAt;
      summary.sent++;
      const kind = request.kind.split(':')[0]!;
      const latency = (summary.latency[kind] ??= { total: 0, max: 0, n: 0 });
      latency.total += ms;
      latency.max = Math.max(latency.max, ms);
      latency.n++;
      const status = 'failure' in answer ? 'no answer' : String(answer.status);
      if (!('failure' in answer) && (answer.status === 401 || answer.status === 403)) {
        if (answer.requestId) summary.refusals.push({ requestId: answer.requestId, index });
        else add(`HTTP ${answer.status} without x-request-id`, request.kind, describeRequest(request, options.seed));
      }
      summary.byStatus[status] = (summary.byStatus[status] ?? 0) + 1;
      let codes: string[] = [];
      if (!('failure' in answer)) {
        try {
          codes = [...new Set(codesOf(JSON.parse(answer.text)))];
        } catch {}
      }
      const outcome = `${status}${codes.length ? ` ${codes.join('+')}` : ''}`;
      const kindOutcomes = (summary.byKind[kind] ??= {});
      kindOutcomes[outcome] = (kindOutcomes[outcome] ?? 0) + 1;
      for (const problem of problemsOf(request, answer)) {
        add(problem, request.kind, `${describeRequest(request, options.seed)}\n  answer: ${'failure' in answer ? answer.failure : answer.text.slice(0, 300)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}

/** runFuzz in a worker thread of its own (TypeScript loaded through tsx there too). */
export function runFuzzInWorker(options: FuzzOptions): Promise<FuzzSummary> {
  const tsx = import.meta.resolve('tsx/esm/api');
  const self = import.meta.url;
  const boot = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(self)}); }).then((client) => client.workerMain())`;
  const worker = new Worker(boot, { eval: true, workerData: options });
  return new Promise((resolve, reject) => {
    worker.once('message', (summary: FuzzSummary) => {
      resolve(summary);
      void worker.terminate();
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the fuzz worker exited (${code}) before reporting`)));
  });
}

/** The worker thread's entry point. */
export async function workerMain(): Promise<void> {
  parentPort!.postMessage(await runFuzz(workerData as FuzzOptions));
}
