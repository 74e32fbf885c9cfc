import type { ApolloServerPlugin } from '@apollo/server';
import { type DocumentNode, visit } from 'graphql';
import { unstorableText as unstorable } from '../../db/storable-text.ts';
import { codedError, ErrorCode } from '../../errors/errors.ts';

/** The path of the first string in a JSON value that holds unstorable text, walked without recursion (variables can nest deeply). */
function findInValue(value: unknown, root: string): string | undefined {
  const stack: [unknown, string][] = [[value, root]];
  while (stack.length > 0) {
    const [item, path] = stack.pop()!;
    if (typeof item === 'string') {
      if (unstorable.test(item)) return path;
    } else if (item && typeof item === 'object') {
      for (const [key, child] of Object.entries(item)) stack.push([child, `${path}.${key}`]);
    }
  }
  return undefined;
}

/**
 * What each document was found to hold. Apollo hands out the same parsed
 * document for every request with the same text (its document store), so a
 * document is walked once, not once a request; a WeakMap forgets it with the store.
 */
const documentFindings = new WeakMap<DocumentNode, string | null>();

function findInDocument(document: DocumentNode): string | undefined {
  let found = documentFindings.get(document);
  if (found === undefined) {
    found = null;
    visit(document, {
      StringValue(node) {
        if (found === null && unstorable.test(node.value)) found = 'a string in the document';
      },
    });
    documentFindings.set(document, found);
  }
  return found ?? undefined;
}

/**
 * Refuses, as BAD_USER_INPUT (HTTP 400) before anything runs, text that no
 * column can store: the NUL character and lone UTF-16 surrogates, in
 * variables, string literals and the operation name. Without it they reach
 * the database and fail there (INTERNAL_SERVER_ERROR).
 */
export function wellFormedTextPlugin<T extends object>(): ApolloServerPlugin<T> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, document }) {
          const where =
            (request.operationName && unstorable.test(request.operationName) ? 'operationName' : undefined) ??
            findInValue(request.variables ?? {}, 'variables') ??
            findInDocument(document);
          if (where) {
            throw codedError(ErrorCode.BAD_USER_INPUT, `${where} holds the NUL character or an unpaired UTF-16 surrogate, which cannot be stored.`, {
              http: { status: 400 },
            });
          }
        },
      };
    },
  };
}
