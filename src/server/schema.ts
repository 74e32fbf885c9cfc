import { readFileSync } from 'node:fs';
import { caseResolvers } from '../cases/case.resolvers.ts';
import { fileURLToPath } from 'node:url';
import { scalarResolvers } from '../graphql/scalars.ts';
import { patientResolvers } from '../patients/patient.resolvers.ts';
import type { Resolvers } from '../generated/graphql.ts';

/** schema.graphql at the repository root: the contract front ends code against, built by `npm run schema`. */
export const contractPath = fileURLToPath(new URL('../../schema.graphql', import.meta.url));

/** The contract the server implements. */
export const typeDefs = readFileSync(contractPath, 'utf8');

/** Every domain's resolvers; Apollo merges the maps. */
export const resolvers: Resolvers[] = [scalarResolvers as Resolvers, patientResolvers, caseResolvers];
