import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode } from '../errors/errors.ts';

/*
 * Trusted documents: in this mode the server runs only the operations a
 * hospital's front end registered at build time, listed in a manifest. Unlike
 * automatic persisted queries (which let any client register any document),
 * nothing else executes, so a stolen token cannot be used to explore the API.
 */

/** Operation bodies by their SHA-256 (hex). */
export type TrustedDocuments = Map<string, string>;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * Reads a manifest: Apollo's persisted-query manifest
 * (`{ format: "apollo-persisted-query-manifest", operations: [{ id, body }] }`)
 * or GraphQL Code Generator's `persisted-documents.json` (`{ "<hash>": "<body>" }`).
 * Ids must be the SHA-256 of their body, so a manifest cannot smuggle a body under another id.
 */
export async function loadTrustedDocuments(file: string): Promise<TrustedDocuments> {
  const manifest = JSON.parse(await readFile(file, 'utf8')) as unknown;
  const entries: [string, string][] =
    manifest && typeof manifest === 'object' && Array.isArray((manifest as { operations?: unknown }).operations)
      ? (manifest as { operations: { id: string; body: string }[] }).operations.map((op) => [op.id, op.body])
      : Object.entries(manifest as Record<string, string>);
  const documents: TrustedDocuments = new Map();
  for (const [id, body] of entries) {
    if (typeof body !== 'string' || sha256(body) !== id) throw new Error(`trusted documents: entry ${id} is not the SHA-256 of its body`);
    documents.set(id, body);
  }
  return documents;
}

type Params = { query?: unknown; documentId?: unknown; extensions?: unknown };

/** The hash a request names, through `documentId` or Apollo's `extensions.persistedQuery.sha256Hash`. */
function requestedHash(params: Params): string | undefined {
  if (typeof params.documentId === 'string') return params.documentId.replace(/^sha256:/, '');
  let extensions = params.extensions;
  if (typeof extensions === 'string') {
    try {
      extensions = JSON.parse(extensions);
    } catch {
      return undefined;
    }
  }
  const hash = (extensions as { persistedQuery?: { sha256Hash?: unknown } } | undefined)?.persistedQuery?.sha256Hash;
  return typeof hash === 'string' ? hash : undefined;
}

/**
 * A Fastify preHandler that lets through only registered documents: a
 * request names one by hash (its body is filled in) or sends a body whose hash
 * is registered; anything else is refused with UNTRUSTED_DOCUMENT.
 */
export function trustedDocumentsHook(documents: TrustedDocuments) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.method === 'OPTIONS') return;
    const params = ((request.method === 'GET' ? request.query : request.body) ?? {}) as Params;
    if (typeof params !== 'object' || Array.isArray(params)) return refuse(reply);
    const hash = requestedHash(params);
    const known = hash !== undefined ? documents.get(hash) : typeof params.query === 'string' ? documents.get(sha256(params.query)) : undefined;
    if (known === undefined) return refuse(reply);
    params.query = known;
    delete params.extensions;
    delete params.documentId;
  };
}

function refuse(reply: FastifyReply) {
  return reply.code(400).send({
    errors: [
      {
        message: 'Only registered operations run on this server (trusted documents mode).',
        extensions: { code: ErrorCode.UNTRUSTED_DOCUMENT },
      },
    ],
  });
}
