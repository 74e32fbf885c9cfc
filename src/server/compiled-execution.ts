import type { GatewayInterface } from '@apollo/server-gateway-interface';
import { type DocumentNode, execute, type ExecutionResult, GraphQLError, type GraphQLSchema } from 'graphql';
import { type CompiledQuery, compileQuery, isCompiledQuery } from 'graphql-jit';

/**
 * A document's operation is compiled on its second execution: a document sent
 * once (ad hoc, or one of a flood of distinct ones) costs no compilation.
 */
const compileOnRun = 2;

/** One operation of one document: how often it ran, and its compiled plan once made (null: graphql-jit declined it). */
interface Plan {
  runs: number;
  compiled?: CompiledQuery | null;
}

/**
 * Executes operations with plans compiled by graphql-jit (JavaScript
 * generated per document), falling back to graphql-js. Apollo hands out the
 * same parsed document for every request with the same text (its document
 * store, which also keeps parsing and validation), so a known document, such
 * as a trusted one, is compiled once and then runs without graphql-js's
 * per-field interpretation. Plans are forgotten with the document.
 */
export function compiledExecutor(schema: GraphQLSchema) {
  const plans = new WeakMap<DocumentNode, Map<string | null, Plan>>();
  const planOf = (document: DocumentNode, operationName: string | null): Plan => {
    let byOperation = plans.get(document);
    if (!byOperation) plans.set(document, (byOperation = new Map()));
    let plan = byOperation.get(operationName);
    if (!plan) byOperation.set(operationName, (plan = { runs: 0 }));
    return plan;
  };
  /** @param resolved whether Apollo found the operation named (else graphql-js answers why not, in its words) */
  return async (document: DocumentNode, operationName: string | null, resolved: boolean, variables: Record<string, unknown>, contextValue: unknown): Promise<ExecutionResult> => {
    const plan = resolved ? planOf(document, operationName) : undefined;
    if (plan && plan.compiled === undefined && ++plan.runs >= compileOnRun) plan.compiled = compile(schema, document, operationName);
    if (plan?.compiled) {
      const result = await plan.compiled.query(undefined, contextValue, variables);
      // Variables that do not coerce (no data): graphql-jit's errors lack the node by which Apollo
      // answers them BAD_USER_INPUT, so they are answered in graphql-js's words. No resolver ran.
      if (!(result.errors && result.data === undefined)) return result.errors ? { ...result, errors: result.errors.map(withExtensions) } : result;
    }
    return execute({ schema, document, operationName, variableValues: variables, contextValue });
  };
}

/**
 * graphql-jit leaves an error's extensions undefined when the error thrown had
 * none (a bug, a database failure), and Apollo's formatting, which reads them,
 * then fails into a bare "Internal server error" that skips the server's own
 * masking: unlogged, and a database outage answered 200 instead of 503. Such
 * an error is made again as graphql-js makes it, with its path, locations and
 * the error thrown.
 */
function withExtensions(error: GraphQLError): GraphQLError {
  if (error.extensions) return error;
  const remade = new GraphQLError(error.message, { path: error.path, ...(error.originalError ? { originalError: error.originalError } : {}) });
  return Object.assign(remade, { locations: error.locations });
}

/** graphql-jit's plan of an operation; null where it declines or fails to compile one (graphql-js runs it). */
function compile(schema: GraphQLSchema, document: DocumentNode, operationName: string | null): CompiledQuery | null {
  try {
    const compiled = compileQuery(schema, document, operationName ?? undefined);
    return isCompiledQuery(compiled) ? compiled : null;
  } catch {
    return null;
  }
}

/**
 * Apollo Server's way to take an executor of one's own: a gateway serving
 * one fixed schema. Parsing, validation (with the limits' rules), plugins
 * and error formatting stay Apollo's.
 */
export function compiledExecutionGateway(schema: GraphQLSchema, typeDefs: string): GatewayInterface {
  const run = compiledExecutor(schema);
  return {
    async load() {
      return {
        schema,
        // The operation name the client sent (Apollo's resolved one is null when it named none that exists).
        executor: (request) => run(request.document, request.request.operationName ?? null, request.operation !== undefined, request.request.variables ?? {}, request.context),
      };
    },
    onSchemaLoadOrUpdate(callback) {
      callback({ apiSchema: schema, coreSupergraphSdl: typeDefs });
      return () => {};
    },
    async stop() {},
  };
}
