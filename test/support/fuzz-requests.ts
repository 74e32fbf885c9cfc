/*
 * A seeded generator of malformed and hostile HTTP requests for the GraphQL
 * endpoint. Request `index` under seed `seed` is always the same request
 * (its own PRNG is seeded from both), so any one can be replayed alone.
 * Nothing here uses Math.random.
 */

/** A small, fast, seedable PRNG (mulberry32) with the helpers the generator needs. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }
  /** Picks by weight: `[[weight, value], ...]`. */
  weighted<T>(entries: readonly (readonly [number, T])[]): T {
    const total = entries.reduce((sum, [weight]) => sum + weight, 0);
    let roll = this.next() * total;
    for (const [weight, value] of entries) {
      roll -= weight;
      if (roll < 0) return value;
    }
    return entries[entries.length - 1]![1];
  }
  string(length: number, alphabet: string): string {
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet[Math.floor(this.next() * alphabet.length)];
    return out;
  }
}

/** A 32-bit seed for request `index` under `seed` (FNV-1a over both, then mixed). */
export function requestSeed(seed: number, index: number): number {
  let h = 0x811c9dc5;
  for (const value of [seed >>> 0, index >>> 0]) {
    for (let shift = 0; shift < 32; shift += 8) {
      h ^= (value >>> shift) & 0xff;
      h = Math.imul(h, 0x01000193);
    }
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x45d9f3b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Tokens the runner signs beforehand; the generator refers to them by name. */
export const validTokenKinds = ['admin', 'clinician', 'otherClinician', 'auditor', 'dataScientist'] as const;
export const refusedTokenKinds = [
  'expired',
  'notYetValid',
  'wrongIssuer',
  'wrongAudience',
  'noRoles',
  'unknownRole',
  'rolesNotAList',
  'noSubject',
  'algNone',
  'hs256WithPublicKey',
  'badSignature',
  'otherKey',
] as const;
export type TokenKind = (typeof validTokenKinds)[number] | (typeof refusedTokenKinds)[number];

/** What the generator may point at: rows that exist on the server under test. */
export interface FuzzWorld {
  patientIds: string[];
  caseIds: string[];
  mrns: string[];
}

export interface FuzzRequest {
  index: number;
  /** The generator's category, for the report. */
  kind: string;
  method: string;
  /** Path and query string, appended to the server's origin. */
  path: string;
  headers: Record<string, string>;
  /** The bearer token the runner adds, or `none` (no header, or the generator wrote a raw one). */
  token: TokenKind | 'none';
  body?: string | Uint8Array;
}

/** What must never be in a response: stack frames, source positions, SQL, ORM and framework internals. */
export const leakPatterns: readonly (readonly [string, RegExp])[] = [
  ['stack frame', /\n\s*at |\bat [^\s"]+ \([^)"]*:\d+:\d+\)|\bat (?:file:\/\/|node:)?\/[^\s"]*:\d+/],
  ['source position', /\.(?:ts|js|mjs|cjs):\d+/],
  ['SQL', /\bSELECT |\bINSERT |\bDELETE FROM\b|\bUPDATE "|relation "/],
  ['Prisma', /prisma/i],
  ['node_modules', /node_modules/],
  ['Fastify code', /FST_/],
];

/** Names the soup and identifiers are made of (never a word a leak pattern looks for). */
const schemaNames = [
  'me', 'subject', 'roles', 'purposeOfUse', 'patients', 'patient', 'patientByMrn', 'case', 'cases', 'observations', 'images',
  'auditEvents', 'exportAuditEvents', 'breakGlassGrants', 'verifyAuditChain', 'edges', 'node', 'pageInfo', 'totalCount',
  'hasNextPage', 'endCursor', 'id', 'mrn', 'givenName', 'familyName', 'birthDate', 'sex', 'aiConsent', 'careTeam',
  'clinicianSubject', 'consentHistory', 'status', 'title', 'code', 'value', 'text', 'unit', 'filter', 'first', 'after',
  'input', 'createPatient', 'updatePatient', 'archivePatient', 'mergePatients', 'openCase', 'closeCase', 'addObservations',
  'addCaseImage', 'addCareTeamMember', 'removeCareTeamMember', 'recordAiConsent', 'openBreakGlass', 'nameContains',
  'includeArchived', 'FEMALE', 'MALE', 'OTHER', 'UNKNOWN', 'GRANTED', 'WITHDRAWN', 'OPEN', 'CLOSED', 'Patient', 'Case',
  'Query', 'Mutation', 'String', 'Int', 'ID', 'Boolean', 'Float', 'Date', 'DateTime', '__typename', '__schema', '__type',
  'query', 'mutation', 'subscription', 'fragment', 'on', 'true', 'false', 'null', 'schema', 'type', 'extend', 'directive',
  'input', 'enum', 'scalar', 'interface', 'union', 'implements', 'repeatable', 'include', 'skip', 'deprecated', 'defer', 'stream',
  'models', 'model', 'predict', 'predictCohort', 'trainModel', 'prediction', 'modelRuntime', 'recordOutcome',
];
const punctuators = ['{', '}', '(', ')', '[', ']', ':', '!', '$', '@', '...', '=', '|', '&', '..', '.', ',', '{', '}', '{', '}'];
const oddNumbers = ['0', '-0', '1', '-1', '1.5', '1e10', '1e400', '-1e-400', '00', '01', '0x1F', '1e', '1.', '.5', '9007199254740993', '2147483648', 'NaN', 'Infinity'];
const oddStrings = ['"abc"', '""', '"""block\nstring"""', '"unterminated', '"\\u00"', '"\\x41"', '"\\uD800"', '"\\u{1F600}"', '"tab\there"', '"""', '"\\"'];
const oddWhitespace = [' ', '  ', '\n', '\t', '\r\n', ',', '\u00a0', '\ufeff', '\u2028', '\u200b', '\u0000', '\u0085'];
const weirdText = ['\u0000', '\u0001', '\u001f', '\u007f', '\ud800', '\udfff', '\ufffe', '\uffff', '\u202e', '\u200d', '🏥', '𝔘𝔫𝔦', 'é', 'ß', '李', 'עברית', '\u0301', '\r', '\n'];

const identifierStart = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_';
const identifierRest = `${identifierStart}0123456789`;

function identifier(r: Rng): string {
  return r.chance(0.7) ? r.pick(schemaNames) : r.string(1, identifierStart) + r.string(r.int(0, 8), identifierRest);
}

function soup(r: Rng, tokens: number): string {
  const parts: string[] = [];
  if (r.chance(0.5)) parts.push(r.pick(['{', 'query', 'mutation', 'query Q', 'mutation M(', 'fragment F on', 'subscription', '{ me', '']));
  for (let i = 0; i < tokens; i++) {
    parts.push(
      r.weighted<() => string>([
        [5, () => identifier(r)],
        [5, () => r.pick(punctuators)],
        [1, () => r.pick(oddNumbers)],
        [1, () => r.pick(oddStrings)],
        [1, () => `$${identifier(r)}`],
        [1, () => `@${identifier(r)}`],
        [0.5, () => `# ${r.string(r.int(0, 20), identifierRest)}\n`],
        [0.5, () => r.pick(weirdText)],
      ])(),
    );
    parts.push(r.pick(oddWhitespace.slice(0, r.chance(0.9) ? 3 : oddWhitespace.length)));
  }
  return parts.join('');
}

type Vars = Record<string, unknown>;

interface Template {
  name: string;
  document: string;
  /** GraphQL types of the variables, for wrong-type values. */
  types: Record<string, string>;
  variables: (r: Rng, world: FuzzWorld, index: number) => Vars;
  mutation?: boolean;
  /** Only these tokens (default: any valid one). */
  tokens?: readonly TokenKind[];
}

const sexes = ['FEMALE', 'MALE', 'OTHER', 'UNKNOWN'];
const aPatient = (r: Rng, w: FuzzWorld) => (r.chance(0.85) ? r.pick(w.patientIds) : r.pick([randomUuid(r), 'not-an-id', '0', '', '00000000-0000-0000-0000-000000000000']));
const aCase = (r: Rng, w: FuzzWorld) => (r.chance(0.85) ? r.pick(w.caseIds) : r.pick([randomUuid(r), 'nope', '-1', '']));

function randomUuid(r: Rng): string {
  const hex = () => r.string(1, '0123456789abcdef');
  return 'xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx'.replace(/x/g, hex);
}

const templates: Template[] = [
  { name: 'me', document: 'query Me { me { subject roles purposeOfUse } }', types: {}, variables: () => ({}) },
  {
    name: 'patients',
    document:
      'query Patients($first: Int, $after: String, $name: String, $archived: Boolean) { patients(filter: { nameContains: $name, includeArchived: $archived }, first: $first, after: $after) { totalCount edges { cursor node { id mrn givenName familyName birthDate sex aiConsent } } pageInfo { hasNextPage endCursor } } }',
    types: { first: 'Int', after: 'String', name: 'String', archived: 'Boolean' },
    variables: (r) => ({ first: r.int(0, 20), ...(r.chance(0.3) ? { name: r.pick(['zz', 'Fuzz', 'a', '%', '_', "'", '\\']) } : {}), ...(r.chance(0.2) ? { archived: true } : {}), ...(r.chance(0.1) ? { after: r.string(r.int(1, 40), identifierRest) } : {}) }),
  },
  {
    name: 'patient',
    document: 'query OnePatient($id: ID!) { patient(id: $id) { id mrn givenName cases { id title status observations { code value text unit } } careTeam { clinicianSubject } consentHistory { status } } }',
    types: { id: 'ID!' },
    variables: (r, w) => ({ id: aPatient(r, w) }),
  },
  {
    name: 'patientByMrn',
    document: 'query ByMrn($mrn: String!) { patientByMrn(mrn: $mrn) { id familyName archived } }',
    types: { mrn: 'String!' },
    variables: (r, w) => ({ mrn: r.chance(0.7) ? r.pick(w.mrns) : r.pick(['NOPE-1', '', ' ', 'a b', "'; --", '../../etc']) }),
  },
  {
    name: 'case',
    document: 'query OneCase($id: ID!) { case(id: $id) { id title status openedAt patient { id } observations { id code value } images { id width height } } }',
    types: { id: 'ID!' },
    variables: (r, w) => ({ id: aCase(r, w) }),
  },
  {
    name: 'auditEvents',
    document: 'query Audit($first: Int, $filter: AuditEventFilter) { auditEvents(first: $first, filter: $filter) { totalCount edges { node { id sequence action outcome actorSubject breakGlass } } } }',
    types: { first: 'Int', filter: 'AuditEventFilter' },
    variables: (r, w) => ({ first: r.int(1, 20), ...(r.chance(0.5) ? { filter: r.pick([{ outcome: 'DENIED' }, { patientId: aPatient(r, w) }, { breakGlass: true }, { from: '2020-01-01T00:00:00Z' }]) } : {}) }),
  },
  {
    name: 'exportAuditEvents',
    document: 'query Export($first: Int) { exportAuditEvents(first: $first) { count hasNextPage endCursor } }',
    types: { first: 'Int' },
    variables: (r) => ({ first: r.int(1, 10) }),
  },
  {
    name: 'breakGlassGrants',
    document: 'query Grants($first: Int) { breakGlassGrants(first: $first) { totalCount edges { node { id clinicianSubject active } } } }',
    types: { first: 'Int' },
    variables: (r) => ({ first: r.int(1, 10) }),
  },
  {
    name: 'createPatient',
    mutation: true,
    document: 'mutation Create($input: CreatePatientInput!) { createPatient(input: $input) { id mrn } }',
    types: { input: 'CreatePatientInput!' },
    variables: (r, _w, index) => ({
      input: {
        mrn: r.chance(0.9) ? `FZ-${index}` : 'FZ-0',
        givenName: r.pick(['Ann', 'Bo', 'Zoë', '李', 'O\'Neil']),
        familyName: r.pick(['Fuzz', 'Test', 'Müller']),
        birthDate: r.pick(['1970-01-01', '2001-12-31', '1950-06-15']),
        sex: r.pick(sexes),
        ...(r.chance(0.3) ? { email: r.pick(['a@b.example', 'nope', '']) } : {}),
      },
    }),
  },
  {
    name: 'updatePatient',
    mutation: true,
    document: 'mutation Update($id: ID!, $input: UpdatePatientInput!) { updatePatient(id: $id, input: $input) { id familyName } }',
    types: { id: 'ID!', input: 'UpdatePatientInput!' },
    variables: (r, w) => ({ id: aPatient(r, w), input: r.pick([{ familyName: 'Renamed' }, { phone: null }, { birthDate: '2999-01-01' }, {}]) }),
  },
  {
    name: 'archivePatient',
    mutation: true,
    document: 'mutation Archive($id: ID!) { archivePatient(id: $id) { id archived } }',
    types: { id: 'ID!' },
    // Mostly ids that do not exist: archiving the shared fixtures would leave little to write to.
    variables: (r, w) => ({ id: r.chance(0.1) ? aPatient(r, w) : randomUuid(r) }),
  },
  {
    name: 'mergePatients',
    mutation: true,
    document: 'mutation Merge($a: ID!, $b: ID!) { mergePatients(duplicateId: $a, survivorId: $b) { id } }',
    types: { a: 'ID!', b: 'ID!' },
    variables: (r, w) => {
      const a = r.chance(0.2) ? aPatient(r, w) : randomUuid(r);
      return { a, b: r.chance(0.3) ? a : randomUuid(r) };
    },
  },
  {
    name: 'openCase',
    mutation: true,
    document: 'mutation Open($input: OpenCaseInput!) { openCase(input: $input) { id status } }',
    types: { input: 'OpenCaseInput!' },
    variables: (r, w) => ({ input: { patientId: aPatient(r, w), title: r.pick(['Fuzz case', '', 'x'.repeat(300)]) } }),
  },
  {
    name: 'addObservations',
    mutation: true,
    document: 'mutation Observe($caseId: ID!, $observations: [ObservationInput!]!) { addObservations(caseId: $caseId, observations: $observations) { id code } }',
    types: { caseId: 'ID!', observations: '[ObservationInput!]!' },
    variables: (r, w) => ({
      caseId: aCase(r, w),
      observations: Array.from({ length: r.int(0, 4) }, () =>
        r.pick<Vars>([{ code: 'mean_radius', value: r.int(-5, 50) }, { code: 'smoking_status', text: 'former' }, { code: 'x', value: 1, text: 'both' }, { code: '', value: 1e308 }, { code: 'when', value: 1, observedAt: '2999-01-01T00:00:00Z' }]),
      ),
    }),
  },
  {
    name: 'addCaseImage',
    mutation: true,
    document: 'mutation Image($caseId: ID!, $image: CaseImageInput!) { addCaseImage(caseId: $caseId, image: $image) { id width height } }',
    types: { caseId: 'ID!', image: 'CaseImageInput!' },
    variables: (r, w) => {
      const width = r.pick([0, 1, 8, 3, -1, 100000]);
      const height = r.pick([0, 1, 8, 5]);
      const count = Math.max(0, Math.min(64, width * height + r.int(-1, 1)));
      return { caseId: aCase(r, w), image: { code: r.pick(['digit', '']), width, height, pixels: Array.from({ length: count }, () => r.pick([0, 0.5, 1, -1, 255, 1e9])) } };
    },
  },
  {
    name: 'closeCase',
    mutation: true,
    document: 'mutation Close($id: ID!) { closeCase(id: $id) { id status } }',
    types: { id: 'ID!' },
    variables: (r, w) => ({ id: r.chance(0.05) ? aCase(r, w) : randomUuid(r) }),
  },
  {
    name: 'careTeam',
    mutation: true,
    document: 'mutation Team($id: ID!, $sub: String!) { addCareTeamMember(patientId: $id, clinicianSubject: $sub) { clinicianSubject } }',
    types: { id: 'ID!', sub: 'String!' },
    variables: (r, w) => ({ id: aPatient(r, w), sub: r.pick(['dr-fuzz', '', ' ', 'dr-carter', 'x'.repeat(300)]) }),
  },
  {
    name: 'removeCareTeamMember',
    mutation: true,
    document: 'mutation Leave($id: ID!, $sub: String!) { removeCareTeamMember(patientId: $id, clinicianSubject: $sub) { clinicianSubject } }',
    types: { id: 'ID!', sub: 'String!' },
    variables: (r, w) => ({ id: aPatient(r, w), sub: r.pick(['dr-fuzz', 'nobody', '']) }),
  },
  {
    name: 'recordAiConsent',
    mutation: true,
    document: 'mutation Consent($id: ID!, $status: ConsentStatus!, $note: String) { recordAiConsent(patientId: $id, status: $status, note: $note) { id aiConsent } }',
    types: { id: 'ID!', status: 'ConsentStatus!', note: 'String' },
    variables: (r, w) => ({ id: aPatient(r, w), status: r.pick(['GRANTED', 'WITHDRAWN']), note: r.pick([null, 'fuzz', 'x'.repeat(5000)]) }),
  },
  {
    name: 'openBreakGlass',
    mutation: true,
    document: 'mutation Glass($id: ID!, $reason: String!) { openBreakGlass(patientId: $id, reason: $reason) { id expiresAt } }',
    types: { id: 'ID!', reason: 'String!' },
    variables: (r, w) => ({ id: aPatient(r, w), reason: r.pick(['short', 'Emergency: unconscious patient in ED', '']) }),
  },
  {
    name: 'models',
    document: 'query Models($name: String!) { models { id name task productionVersion { version } } model(name: $name) { id } modelRuntime { backend } }',
    types: { name: 'String!' },
    variables: (r) => ({ name: r.pick(['breast-cancer', 'nope', '', 'x'.repeat(300)]) }),
  },
  {
    name: 'modelLookups',
    document: 'query Lookups($id: ID!, $model: String!) { modelVersion(id: $id) { id } prediction(id: $id) { id } trainingJob(id: $id) { id status } modelPerformance(model: $model) { predictions } }',
    types: { id: 'ID!', model: 'String!' },
    variables: (r) => ({ id: r.chance(0.8) ? randomUuid(r) : 'nope', model: r.pick(['breast-cancer', 'nope']) }),
  },
  {
    name: 'predict',
    mutation: true,
    document: 'mutation Predict($caseId: ID!, $model: String!, $version: Int) { predict(caseId: $caseId, model: $model, version: $version) { id label value } }',
    types: { caseId: 'ID!', model: 'String!', version: 'Int' },
    variables: (r, w) => ({ caseId: aCase(r, w), model: r.pick(['breast-cancer', 'digits', 'nope']), ...(r.chance(0.3) ? { version: r.pick([1, 0, -1, 99]) } : {}) }),
  },
  {
    name: 'predictCohort',
    mutation: true,
    document: 'mutation Cohort($caseIds: [ID!]!, $model: String!) { predictCohort(caseIds: $caseIds, model: $model) { caseId error { code } } }',
    types: { caseIds: '[ID!]!', model: 'String!' },
    variables: (r, w) => ({ caseIds: Array.from({ length: r.pick([0, 1, 3, 51, 200]) }, () => aCase(r, w)), model: r.pick(['breast-cancer', 'nope']) }),
  },
  {
    name: 'predictionReview',
    mutation: true,
    document: 'mutation Review($id: ID!, $note: String) { reviewPrediction(id: $id, decision: AGREE, note: $note) { id } explainPrediction(id: $id) { id } }',
    types: { id: 'ID!', note: 'String' },
    variables: (r) => ({ id: randomUuid(r), note: r.pick([null, 'fine']) }),
  },
  {
    name: 'recordOutcome',
    mutation: true,
    document: 'mutation Outcome($caseId: ID!, $outcome: OutcomeInput!) { recordOutcome(caseId: $caseId, outcome: $outcome) { target label value } }',
    types: { caseId: 'ID!', outcome: 'OutcomeInput!' },
    variables: (r, w) => ({ caseId: aCase(r, w), outcome: r.pick<Vars>([{ target: 'diagnosis', label: 'B' }, { target: 'progression', value: 120 }, { target: '', label: 'x' }, { target: 'diagnosis', label: 'B', value: 1 }, { target: 'diagnosis' }]) }),
  },
  {
    // Only for roles that may not train: a real training job would make the run slow and its timing uneven.
    name: 'trainModel(forbidden)',
    mutation: true,
    document: 'mutation Train($input: TrainModelInput!) { trainModel(input: $input) { id status } }',
    types: { input: 'TrainModelInput!' },
    variables: (r) => ({ input: { name: 'fuzz-model', task: r.pick(['BINARY', 'REGRESSION']), target: 'y', data: { csv: 'a,y\n1,0\n2,1\n3,0\n4,1' }, maxEpochs: 1 } }),
    tokens: ['clinician', 'otherClinician', 'auditor'],
  },
  {
    name: 'promoteModelVersion',
    mutation: true,
    document: 'mutation Promote($id: ID!, $comment: String!) { promoteModelVersion(id: $id, comment: $comment) { id stage } }',
    types: { id: 'ID!', comment: 'String!' },
    variables: (r) => ({ id: randomUuid(r), comment: r.pick(['', 'looks good', 'x'.repeat(5000)]) }),
  },
  {
    // Walking the whole chain is the auditors' (slow) right; everyone else is refused.
    name: 'verifyAuditChain(forbidden)',
    document: 'query Verify { verifyAuditChain { intact checkedCount } }',
    types: {},
    tokens: ['admin', 'clinician', 'otherClinician', 'dataScientist'],
    variables: () => ({}),
  },
];

/** A value of the wrong type (or shape) for a variable of GraphQL type `type`. */
function wrongValue(r: Rng, type: string): unknown {
  const nonNull = type.endsWith('!');
  const base = type.replace(/[[\]!]/g, '');
  const common: unknown[] = [{}, [], [[]], true, 1.5, -1, { id: 'x' }, ['a', 'b'], 'string', '', { __proto__: null, toString: 'x' }, { length: 1e9 }];
  if (nonNull) common.push(null, null, null);
  const byType: Record<string, unknown[]> = {
    Int: ['ten', 1.5, 2 ** 31, -(2 ** 31) - 1, 1e308, -0.0001, '1', true, [1], { value: 1 }, 9007199254740993],
    ID: [{}, [], true, 1.5, { id: 'x' }, ['a'], { $oid: 'x' }, 1e308],
    String: [42, true, {}, ['a'], { text: 'a' }, 0],
    Boolean: ['true', 1, 0, 'yes', {}, []],
    ConsentStatus: ['granted', 'Withdrawn', 1, '', '__proto__', ['GRANTED'], 'GRANTED ', true],
    AuditEventFilter: ['outcome', [{ outcome: 'DENIED' }], { outcome: 'NOPE' }, { unknownField: 1 }, { from: 'yesterday' }, { breakGlass: 'yes' }, { patientId: {} }],
    CreatePatientInput: ['patient', [], { mrn: 1 }, { givenName: 'A' }, { mrn: 'X', givenName: 'A', familyName: 'B', birthDate: '1970-13-45', sex: 'MALE' }, { mrn: 'X', givenName: 'A', familyName: 'B', birthDate: '1970-01-01', sex: 'male' }, { mrn: 'X', givenName: 'A', familyName: 'B', birthDate: 19700101, sex: 'MALE' }, { mrn: 'X', givenName: 'A', familyName: 'B', birthDate: '1970-01-01', sex: 'MALE', extra: true }, { mrn: 'X', givenName: null, familyName: 'B', birthDate: '1970-01-01', sex: 'MALE' }],
    UpdatePatientInput: ['x', [], { sex: 'nope' }, { birthDate: '0000-00-00' }, { email: 'not-an-email' }, { birthDate: '2026-02-30' }, { mrn: null }],
    OpenCaseInput: ['x', [], { patientId: {} }, { title: 'no patient' }, { patientId: 'x', title: null }],
    ObservationInput: ['x', [[]], [{ code: 1 }], [{}], [{ code: 'a', value: 'high' }], [null], [{ code: 'a', observedAt: 'tomorrow' }], { code: 'a', value: 1 }],
    OutcomeInput: ['x', [], { label: 'B' }, { target: 1 }, { target: 'diagnosis', value: 'high' }, { target: null }],
    TrainModelInput: ['x', [], { name: 'm' }, { name: 'm', task: 'IMAGE', target: 'y', data: {} }, { name: 'm', task: 'BINARY', target: 'y', data: { csv: 5 } }, { name: 'm', task: 'BINARY', target: 'y', data: { csv: 'a,y' }, hiddenUnits: [1e9] }],
    CaseImageInput: ['x', [], { code: 'a' }, { code: 'a', width: 'wide', height: 1, pixels: [] }, { code: 'a', width: 1, height: 1, pixels: ['black'] }, { code: 'a', width: 1, height: 1, pixels: 0.5 }],
  };
  return r.pick([...common, ...(byType[base] ?? [])]);
}

/** Deeply nested JSON text: `{"a":{"a":...}}` or `[[[...]]]`, built as text (no recursion anywhere). */
function deepJson(r: Rng, depth: number): string {
  return r.chance(0.5) ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

interface Draft {
  kind: string;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  token?: TokenKind | 'none';
  body?: string | Uint8Array;
}

const json = (value: unknown) => JSON.stringify(value);

/** Like encodeURIComponent, but takes any string (a lone surrogate goes out as the UTF-8 of U+FFFD). */
function percentEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) out += /[A-Za-z0-9\-_.!~*'()]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}
const gqlBody = (query: unknown, variables?: unknown, extra: Record<string, unknown> = {}) => json({ query, ...(variables === undefined ? {} : { variables }), ...extra });

function validToken(r: Rng): TokenKind {
  return r.pick(validTokenKinds);
}

/** A valid token for a template: any role, or only those the template allows. */
function tokenFor(r: Rng, template: Template): TokenKind {
  return template.tokens ? r.pick(template.tokens) : validToken(r);
}

function nestedCases(depth: number): string {
  let selection = 'id';
  for (let i = 0; i < depth; i++) selection = `cases { patient { ${selection} } }`;
  return `query Deep($id: ID!) { patient(id: $id) { ${selection} } }`;
}

/** The categories, each a function from the request's PRNG to a draft, with their weights. */
const categories: readonly (readonly [number, (r: Rng, w: FuzzWorld, index: number) => Draft])[] = [
  // Valid documents under every role: most are allowed, many are forbidden for the role or point at rows the caller may not see.
  [10, (r, w, index) => {
    const t = r.pick(templates);
    const body = gqlBody(t.document, t.variables(r, w, index), { operationName: t.document.match(/^(?:query|mutation) (\w+)/)?.[1] });
    return { kind: `valid:${t.name}`, body, token: tokenFor(r, t) };
  }],
  // Valid documents, wrong variable types: strings for Int, objects for ID, arrays, nulls for non-null, missing and extra variables.
  [12, (r, w, index) => {
    const t = r.pick(templates.filter((template) => Object.keys(template.types).length > 0));
    const variables: Vars = { ...t.variables(r, w, index) };
    const names = Object.keys(t.types);
    const how = r.int(0, 9);
    if (how === 0) delete variables[r.pick(names)];
    else if (how === 1) variables[`undeclared${r.int(0, 9)}`] = r.pick([1, 'x', {}]);
    else for (const name of names) if (r.chance(0.6) || name === names[0]) variables[name] = wrongValue(r, t.types[name]!);
    return { kind: `wrong-variables:${t.name}`, body: gqlBody(t.document, variables), token: tokenFor(r, t) };
  }],
  // Random token soup.
  [12, (r) => ({ kind: 'soup', body: gqlBody(soup(r, r.int(1, r.chance(0.1) ? 2500 : 120))) })],
  // Truncated (and spliced) valid documents.
  [10, (r, w, index) => {
    const t = r.pick(templates);
    const cut = r.int(0, t.document.length - 1);
    const document = r.chance(0.8) ? t.document.slice(0, cut) : t.document.slice(0, cut) + t.document.slice(r.int(cut, t.document.length));
    return { kind: 'truncated', body: gqlBody(document, t.variables(r, w, index)), token: tokenFor(r, t) };
  }],
  // Deep nesting: selections past the depth limit, brackets, fragment chains, deeply nested variables.
  [5, (r, w) => {
    const how = r.int(0, 4);
    if (how === 0) return { kind: 'deep:selections', body: gqlBody(nestedCases(r.int(5, 120)), { id: aPatient(r, w) }) };
    if (how === 1) {
      const n = r.int(10, 1500);
      return { kind: 'deep:brackets', body: gqlBody('{ me '.repeat(n) + '}'.repeat(n)) };
    }
    if (how === 2) {
      const n = r.int(5, 300);
      const fragments = Array.from({ length: n }, (_, i) => (i === n - 1 ? `fragment F${i} on Query { me { subject } }` : `fragment F${i} on Query { ...F${i + 1} }`));
      return { kind: 'deep:fragment-chain', body: gqlBody(`{ ...F0 } ${fragments.join(' ')}`) };
    }
    if (how === 3) return { kind: 'deep:fragment-cycle', body: gqlBody('{ ...A } fragment A on Query { ...B } fragment B on Query { ...A me { subject } }') };
    const depth = r.int(100, r.chance(0.3) ? 100_000 : 5000);
    return r.chance(0.5)
      ? { kind: 'deep:variables', body: `{"query":"query($f: AuditEventFilter) { auditEvents(filter: $f, first: 1) { totalCount } }","variables":{"f":${deepJson(r, depth)}}}` }
      : { kind: 'deep:variables', body: `{"query":"mutation($c: ID!, $o: [ObservationInput!]!) { addObservations(caseId: $c, observations: $o) { id } }","variables":{"c":${json(aCase(r, w))},"o":${deepJson(r, depth)}}}` };
  }],
  // Alias and directive bombs, field duplication, expensive aliases.
  [5, (r) => {
    const how = r.int(0, 4);
    if (how === 0) return { kind: 'bomb:aliases', body: gqlBody(`{ ${Array.from({ length: r.int(14, 500) }, (_, i) => `a${i}: me { subject }`).join(' ')} }`) };
    if (how === 1) {
      const directive = r.pick(['@include(if: true)', '@skip(if: false)', '@deprecated', '@nope', '@include(if: $x)']);
      return { kind: 'bomb:directives', body: gqlBody(`query($x: Boolean = true) { me ${Array.from({ length: r.int(18, 400) }, () => directive).join(' ')} { subject } }`) };
    }
    if (how === 2) return { kind: 'bomb:duplicate-fields', body: gqlBody(`{ me { ${Array.from({ length: r.int(10, 2500) }, () => 'subject').join(' ')} } }`) };
    if (how === 3) return { kind: 'bomb:cost', body: gqlBody(`{ ${Array.from({ length: r.int(2, 15) }, (_, i) => `p${i}: patients(first: 100) { edges { node { id cases { id observations { id code value } } } } }`).join(' ')} }`) };
    return { kind: 'bomb:operation-directives', body: gqlBody(`query Q ${Array.from({ length: r.int(10, 300) }, () => '@skip(if: true)').join(' ')} { me { subject } }`) };
  }],
  // Huge strings: in variables, in the document, as operation names; around and beyond the body limit (512 KiB).
  [2, (r) => {
    const size = r.weighted<number>([[3, r.int(10_000, 400_000)], [2, r.int(512 * 1024 - 64, 512 * 1024 + 64)], [2, r.int(520_000, 1_500_000)]]);
    const unit = r.pick(['x', 'é', '🏥', 'a"\\', '\\u0000']);
    const huge = unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
    const how = r.int(0, 4);
    if (how === 0) return { kind: 'huge:variable', body: gqlBody('query($name: String) { patients(filter: { nameContains: $name }) { totalCount } }', { name: huge }) };
    if (how === 1) return { kind: 'huge:literal', body: gqlBody(`{ patientByMrn(mrn: "${huge.replace(/["\\]/g, '')}") { id } }`) };
    if (how === 2) return { kind: 'huge:operation-name', body: gqlBody('query Q { me { subject } }', {}, { operationName: huge }) };
    if (how === 3) return { kind: 'huge:comment', body: gqlBody(`# ${huge.replace(/[\n\r]/g, '')}\n{ me { subject } }`) };
    return { kind: 'huge:padding', body: json({ query: '{ me { subject } }', extensions: { padding: huge } }) };
  }],
  // Bodies that are not JSON.
  [7, (r) => {
    const good = gqlBody('{ me { subject } }');
    const body = r.pick<() => string | Uint8Array>([
      () => good.slice(0, r.int(0, good.length - 1)),
      () => `{"query": }`,
      () => `{'query': '{ me { subject } }'}`,
      () => `{"query": "{ me { subject } }",}`,
      () => `{"query": "{ me { subject } }"} trailing`,
      () => `{"query": NaN}`,
      () => `/* comment */ ${good}`,
      () => `\ufeff${good}`,
      () => '',
      () => '   ',
      () => `{"query": "\\x41"}`,
      () => `{"query": "${'\\u'.repeat(3)}"}`,
      () => `{"a":1,"a":2,`,
      () => Uint8Array.from({ length: r.int(1, 300) }, () => r.int(0, 255)),
      () => Uint8Array.from([0x7b, 0x22, 0x71, 0x75, 0x65, 0x72, 0x79, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]),
      () => `${'['.repeat(r.int(1, 50_000))}`,
      () => `{"query": "{ me { subject } }", "variables": ${'{"a":'.repeat(200)}`,
    ])();
    return { kind: 'invalid-json', body };
  }],
  // Wrong or odd content types.
  [4, (r) => {
    const type = r.pick(['text/plain', 'application/xml', 'application/graphql', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', 'application/json; charset=latin1', 'application/JSON', 'application/json;;;', ';', '*/*', 'application/json, text/plain', 'application/vnd.api+json', 'application/graphql-response+json', 'text/html', 'application/octet-stream']);
    const body = r.pick([gqlBody('{ me { subject } }'), '{ me { subject } }', 'query=%7B%20me%20%7B%20subject%20%7D%20%7D', '--x\r\nContent-Disposition: form-data; name="query"\r\n\r\n{ me { subject } }\r\n--x--', '<query>{ me }</query>']);
    return { kind: 'content-type', headers: { 'content-type': type }, body };
  }],
  // JSON that is not an object: numbers, arrays (batches), strings, literals.
  [5, (r) => ({
    kind: 'json-not-object',
    body: r.pick(['0', '-1.5e308', '"{ me { subject } }"', 'true', 'null', '[]', '[{"query":"{ me { subject } }"}]', '[{"query":"{ me { subject } }"},{"query":"{ me { subject } }"}]', '[1,2,3]', '[[[]]]', '{}', '{"query": null}', '{"query": {"kind": "Document"}}', '{"query": ["{ me { subject } }"]}', '{"query": "{ me { subject } }", "variables": "{\\"a\\":1}"}', '{"query": "{ me { subject } }", "variables": [1]}', '{"query": "{ me { subject } }", "extensions": 5}', '{"query": "{ me { subject } }", "operationName": 7}']),
  })],
  // Unknown, missing, ambiguous operation names.
  [4, (r) => {
    const document = r.pick(['query A { me { subject } } query B { me { roles } }', '{ me { subject } } { me { roles } }', 'query A { me { subject } }', 'query A { me { subject } } mutation A { closeCase(id: "x") { id } }', '{ me { subject } } query A { me { roles } }']);
    const operationName = r.pick<unknown>(['C', '', ' A', 'a', 'A B', '__proto__', 'constructor', 'toString', null, 'é', '\u0000', 'B'.repeat(300)]);
    return { kind: 'operation-name', body: json({ query: document, operationName }) };
  }],
  // GET requests with garbage query strings, with and without the CSRF preflight header.
  [6, (r) => {
    const raw = r.pick([
      () => `query=${percentEncode(soup(r, r.int(1, 40)))}`,
      () => `query=${percentEncode('{ me { subject } }')}&query=${percentEncode('{ me { roles } }')}`,
      () => `query=${percentEncode('{ me { subject } }')}&variables=${r.pick(['%7Bnot', '[1]', '%22s%22', 'null', '{}', '%7B%22__proto__%22%3A%7B%22polluted%22%3Atrue%7D%7D'])}`,
      () => `query=${percentEncode('{ me { subject } }')}&extensions=${r.pick(['%7Bnot', '[1]', '5', '%7B%22persistedQuery%22%3A%7B%22version%22%3A1%2C%22sha256Hash%22%3A%22abc%22%7D%7D'])}`,
      () => r.pick(['%zz', '%', '%00', '%C3%28', '%FF%FE', '&&&', '=', '==&=', 'query', 'query=', 'query=%', 'query[]=1', 'query[a]=1', '__proto__[polluted]=1', 'constructor[prototype][polluted]=1']),
      () => `query=${percentEncode('mutation { archivePatient(id: "x") { id } }')}`,
      () => `query=${percentEncode(`{ ${'a: me { subject } '.repeat(r.int(1, 300))}}`)}`,
      () => `operationName=${percentEncode(soup(r, 3))}&query=${percentEncode('query A { me { subject } }')}`,
      () => r.string(r.int(1, 2000), 'abcdefghijklmnopqrstuvwxyz%=&+;?/#[]{}0123456789'),
    ])();
    const headers: Record<string, string> = {};
    if (r.chance(0.6)) headers['apollo-require-preflight'] = 'true';
    if (r.chance(0.1)) headers['content-type'] = r.pick(['application/json', 'text/plain']);
    return { kind: 'get', method: 'GET', path: `/graphql?${raw}`.replace(/#/g, '%23'), headers };
  }],
  // Bad authentication: refused tokens, malformed authorization headers, no token at all.
  [6, (r) => {
    if (r.chance(0.55)) {
      const operationName = r.chance(0.3) ? { operationName: r.pick(['X\u0000', '\u0000', 'é\ud800', 'A'.repeat(500), 'Me']) } : {};
      return { kind: 'auth:refused-token', token: r.pick(refusedTokenKinds), body: gqlBody('query Me { me { subject } }', undefined, operationName) };
    }
    const header = r.pick([
      'Bearer',
      'Bearer ',
      'bearer x.y.z',
      'Basic YWxhZGRpbjpvcGVuc2VzYW1l',
      'Negotiate YII=',
      'Bearer a b',
      'Bearer ..',
      'Bearer a.b.c',
      'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
      `Bearer ${'A'.repeat(r.int(100, 8000))}`,
      `Bearer ${r.string(r.int(10, 200), identifierRest + '.-_')}`,
      'Token abc',
      '',
    ]);
    return { kind: 'auth:malformed', token: 'none', headers: header === '' ? {} : { authorization: header }, body: gqlBody(r.pick(['{ me { subject } }', 'mutation { archivePatient(id: "x") { id } }', '{'])) };
  }],
  // Huge (but legal) headers, many headers, odd purpose-of-use and request-id headers.
  [2, (r) => {
    const headers: Record<string, string> = {};
    const how = r.int(0, 3);
    if (how === 0) headers['x-fuzz'] = 'h'.repeat(r.int(4000, 12_000));
    if (how === 1) for (let i = 0; i < r.int(20, 90); i++) headers[`x-fuzz-${i}`] = r.string(100, identifierRest);
    if (how === 2) headers['x-request-id'] = r.pick(['a'.repeat(12_000), 'ok-id', '../../etc/passwd', '<script>', '{}', 'id with spaces', 'é']);
    if (how === 3) headers['x-purpose-of-use'] = r.pick(['TREAT', 'treat', 'ETREAT', 'NOPE', '', 'x'.repeat(9000), 'HSYSADMIN,TREAT', 'é', '__proto__']);
    return { kind: 'headers', headers, body: gqlBody('{ me { subject purposeOfUse } }') };
  }],
  // Unicode, NUL bytes, lone surrogates, BOMs, direction overrides in documents and variables.
  [4, (r) => {
    const weird = Array.from({ length: r.int(1, 30) }, () => r.pick(weirdText)).join('');
    const how = r.int(0, 3);
    if (how === 0) return { kind: 'unicode:document', body: gqlBody(`{ me${weird} { subject } }`) };
    if (how === 1) return { kind: 'unicode:string', body: gqlBody(`{ patientByMrn(mrn: "${weird.replace(/["\\\n\r]/g, '')}") { id } }`) };
    if (how === 2) return { kind: 'unicode:variable', body: gqlBody('query($name: String) { patients(filter: { nameContains: $name }) { totalCount } }', { name: weird }) };
    return { kind: 'unicode:name', body: gqlBody(`query ${weird} { me { subject } }`, undefined, { operationName: weird }) };
  }],
  // Odd text (NUL, lone surrogates, controls, direction overrides) in every kind of text input, sent by a role that may use it.
  [3, (r, w) => {
    const weird = () => {
      const text = Array.from({ length: r.int(1, 12) }, () => r.pick(weirdText)).join('');
      return r.chance(0.6) ? `ok ${text} reason text` : text;
    };
    const target = r.pick<() => Draft>([
      () => ({ kind: 'text:nameContains', token: r.pick(['clinician', 'admin'] as const), body: gqlBody('query($n: String) { patients(filter: { nameContains: $n }) { totalCount } }', { n: weird() }) }),
      () => ({ kind: 'text:createPatient', token: 'admin', body: gqlBody('mutation($i: CreatePatientInput!) { createPatient(input: $i) { id } }', { i: { mrn: `TX-${r.int(0, 1e9)}`, givenName: weird(), familyName: 'Text', birthDate: '1970-01-01', sex: 'OTHER', ...(r.chance(0.5) ? { address: weird(), phone: weird() } : {}) } }) }),
      () => ({ kind: 'text:updatePatient', token: 'admin', body: gqlBody('mutation($id: ID!, $i: UpdatePatientInput!) { updatePatient(id: $id, input: $i) { id } }', { id: r.pick(w.patientIds), i: r.pick([{ address: weird() }, { familyName: weird() }, { phone: weird() }]) }) }),
      () => ({ kind: 'text:openCase', token: 'clinician', body: gqlBody('mutation($i: OpenCaseInput!) { openCase(input: $i) { id } }', { i: { patientId: r.pick(w.patientIds), title: weird() } }) }),
      () => ({ kind: 'text:addObservations', token: 'clinician', body: gqlBody('mutation($c: ID!, $o: [ObservationInput!]!) { addObservations(caseId: $c, observations: $o) { id } }', { c: r.pick(w.caseIds), o: [r.pick([{ code: 'smoking_status', text: weird() }, { code: 'mean_radius', value: 1, unit: weird() }, { code: weird(), value: 1 }])] }) }),
      () => ({ kind: 'text:recordAiConsent', token: r.pick(['clinician', 'admin'] as const), body: gqlBody('mutation($p: ID!, $n: String) { recordAiConsent(patientId: $p, status: GRANTED, note: $n) { id } }', { p: r.pick(w.patientIds), n: weird() }) }),
      () => ({ kind: 'text:openBreakGlass', token: 'otherClinician', body: gqlBody('mutation($p: ID!, $why: String!) { openBreakGlass(patientId: $p, reason: $why) { id } }', { p: r.pick(w.patientIds), why: weird() }) }),
      () => ({ kind: 'text:addCareTeamMember', token: 'admin', body: gqlBody('mutation($p: ID!, $s: String!) { addCareTeamMember(patientId: $p, clinicianSubject: $s) { clinicianSubject } }', { p: r.pick(w.patientIds), s: weird() }) }),
      () => ({ kind: 'text:auditEvents', token: 'auditor', body: gqlBody('query($f: AuditEventFilter) { auditEvents(filter: $f, first: 1) { totalCount } }', { f: r.pick([{ actorSubject: weird() }, { action: weird() }]) }) }),
      () => ({ kind: 'text:breakGlassGrants', token: 'auditor', body: gqlBody('query($s: String) { breakGlassGrants(clinicianSubject: $s, first: 1) { totalCount } }', { s: weird() }) }),
      () => ({ kind: 'text:recordOutcome', token: 'clinician', body: gqlBody('mutation($c: ID!, $o: OutcomeInput!) { recordOutcome(caseId: $c, outcome: $o) { target } }', { c: r.pick(w.caseIds), o: r.pick([{ target: weird(), label: 'B' }, { target: 'diagnosis', label: weird() }]) }) }),
      () => ({ kind: 'text:modelName', token: r.pick(['clinician', 'dataScientist'] as const), body: gqlBody('query($m: String!) { model(name: $m) { id } }', { m: weird() }) }),
      () => ({ kind: 'text:predict', token: 'clinician', body: gqlBody('mutation($c: ID!, $m: String!) { predict(caseId: $c, model: $m) { id } }', { c: r.pick(w.caseIds), m: weird() }) }),
      () => ({ kind: 'text:literal', token: 'clinician', body: gqlBody(`{ patients(filter: { nameContains: "${r.pick(['\\u0000', 'a\\u0000b', '\\uD800', '\\u202E'])}" }) { totalCount } }`) }),
    ]);
    return target();
  }],
  // Prototype-pollution shapes in the body, the variables, the inputs and the extensions.
  [4, (r, w) => {
    const shape = r.pick([
      `{"query": "{ me { subject } }", "__proto__": {"polluted": true}}`,
      `{"query": "{ me { subject } }", "constructor": {"prototype": {"polluted": true}}}`,
      `{"query": "query($first: Int) { patients(first: $first) { totalCount } }", "variables": {"__proto__": {"first": 1000}, "first": 1}}`,
      `{"query": "query($first: Int) { patients(first: $first) { totalCount } }", "variables": {"constructor": {"prototype": {"polluted": true}}}}`,
      `{"query": "mutation($input: CreatePatientInput!) { createPatient(input: $input) { id } }", "variables": {"input": {"__proto__": {"isAdmin": true}, "mrn": "PP-1", "givenName": "A", "familyName": "B", "birthDate": "1970-01-01", "sex": "MALE"}}}`,
      `{"query": "query($f: AuditEventFilter) { auditEvents(filter: $f) { totalCount } }", "variables": {"f": {"constructor": {"name": "x"}, "__proto__": {"outcome": "DENIED"}}}}`,
      `{"query": "{ me { subject } }", "extensions": {"__proto__": {"persistedQuery": {"version": 1}}}}`,
      `{"query": "query($id: ID!) { patient(id: $id) { id } }", "variables": {"id": "${w.patientIds[0] ?? 'x'}", "__proto__": {"polluted": true}}}`,
      `{"__proto__": {"query": "{ me { subject } }"}}`,
      `{"query": "{ __proto__ { constructor } }"}`,
      `{"query": "{ me { subject } }", "operationName": "__proto__"}`,
      `{"query": "query($toString: String) { me { subject } }", "variables": {"toString": "x", "hasOwnProperty": 1, "valueOf": {}}}`,
    ]);
    return { kind: 'prototype-pollution', body: shape };
  }],
  // Persisted-query (APQ) shapes: unknown hashes, wrong hashes, bad versions.
  [2, (r) => ({
    kind: 'persisted-query',
    body: r.pick([
      json({ extensions: { persistedQuery: { version: 1, sha256Hash: 'a'.repeat(64) } } }),
      json({ query: '{ me { subject } }', extensions: { persistedQuery: { version: 1, sha256Hash: 'b'.repeat(64) } } }),
      json({ extensions: { persistedQuery: { version: 2, sha256Hash: 'c' } } }),
      json({ extensions: { persistedQuery: 'yes' } }),
      json({ documentId: 'sha256:abc' }),
      json({ extensions: { persistedQuery: { version: 1, sha256Hash: {} } } }),
    ]),
  })],
  // Other methods and paths.
  [1, (r) => ({
    kind: 'method-path',
    method: r.pick(['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'POST', 'GET']),
    path: r.pick(['/graphql', '/graphql/', '/GRAPHQL', '//graphql', '/graphql/..%2fhealthz', '/graphql%00', '/graphql;x', '/%2e%2e/', '/graphql?', '/api/graphql', '/graphql.json']),
    body: gqlBody('{ me { subject } }'),
  })],
];

/**
 * Builds request `index` of the run under `seed`: about 80% carry a valid
 * token, so most reach GraphQL parsing, validation and execution.
 */
export function generateRequest(seed: number, index: number, world: FuzzWorld): FuzzRequest {
  const r = new Rng(requestSeed(seed, index));
  const draft = r.weighted(categories)(r, world, index);
  const token = draft.token ?? validToken(r);
  const method = draft.method ?? 'POST';
  const headers: Record<string, string> = {};
  if (method !== 'GET' && !(draft.headers && 'content-type' in draft.headers)) headers['content-type'] = 'application/json';
  if (r.chance(0.15)) headers.accept = r.pick(['application/json', 'application/graphql-response+json', 'application/graphql-response+json, application/json;q=0.9', '*/*', 'text/html', 'image/png', 'application/json;q=0', '']);
  Object.assign(headers, draft.headers);
  for (const [name, value] of Object.entries(headers)) if (value === '') delete headers[name];
  const request: FuzzRequest = { index, kind: draft.kind, method, path: draft.path ?? '/graphql', headers, token };
  if (draft.body !== undefined && method !== 'GET') request.body = draft.body;
  return request;
}

/** A short, replayable description of a request (the token by kind, long bodies cut). */
export function describeRequest(request: FuzzRequest, seed: number): string {
  const body = request.body === undefined ? '' : typeof request.body === 'string' ? request.body : `<${request.body.length} bytes: ${Buffer.from(request.body).toString('hex').slice(0, 80)}>`;
  const length = typeof request.body === 'string' ? Buffer.byteLength(request.body) : (request.body?.length ?? 0);
  const headers = Object.entries(request.headers).map(([name, value]) => `${name}: ${value.length > 80 ? `${value.slice(0, 60)}...(${value.length} chars)` : value}`);
  return [
    `#${request.index} (FUZZ_SEED=${seed}) ${request.kind}: ${request.method} ${request.path.length > 200 ? `${request.path.slice(0, 200)}...(${request.path.length} chars)` : request.path}`,
    `  token: ${request.token}; headers: ${JSON.stringify(headers)}`,
    `  body (${length} bytes): ${JSON.stringify(body.length > 300 ? `${body.slice(0, 300)}...` : body)}`,
  ].join('\n');
}
