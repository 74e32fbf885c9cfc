#!/usr/bin/env tsx
/**
 * Inserts N patients into a clinigraph PostgreSQL database fast, with one
 * INSERT ... SELECT generate_series per chunk of 100,000, then VACUUM
 * ANALYZE (a table that has been live for a while has planner statistics and
 * a visibility map; a freshly bulk-loaded one has neither).
 *
 *   npx tsx bench/seed-patients.ts --database-url postgresql://postgres@127.0.0.1:5432/db --count 1000000 \
 *     [--care-team-every 100 --clinician bench-clinician]
 *
 * The rows are valid Patient rows: unique MRNs (BENCH-00000001, ...), names,
 * birth dates, every sex, distinct registration times one second apart (the
 * keyset the patient list pages on), consent GRANTED. With --care-team-every
 * K, every K-th patient gets the clinician on its care team.
 */
import pg from 'pg';

export interface SeedOptions {
  /** Put `clinician` on the care team of every k-th patient (0: none). */
  careTeamEvery?: number;
  clinician?: string;
  /** Called after each chunk with the number inserted so far. */
  onProgress?: (inserted: number) => void;
}

const chunk = 100_000;

/** Inserts `count` patients after those already seeded by this script; returns the seconds it took. */
export async function seedPatients(databaseUrl: string, count: number, options: SeedOptions = {}): Promise<number> {
  const started = performance.now();
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM "Patient" WHERE mrn ~ '^BENCH-[0-9]+$'`);
    const first = Number(rows[0]!.n) + 1;
    for (let from = first; from < first + count; from += chunk) {
      const to = Math.min(from + chunk - 1, first + count - 1);
      await client.query(
        `WITH inserted AS (
           INSERT INTO "Patient" (id, mrn, "givenName", "familyName", "birthDate", sex, "createdAt", "updatedAt", "aiConsent")
           SELECT gen_random_uuid(),
                  'BENCH-' || lpad(i::text, 8, '0'),
                  (ARRAY['Ada','Ben','Cleo','Dev','Eli','Fay','Gus','Hana','Ivo','Jun'])[1 + i % 10],
                  (ARRAY['Example','Sample','Placeholder','Testcase','Fictional','Mock','Stub','Dummy'])[1 + (i / 10) % 8] || ' ' || (i % 997),
                  DATE '1930-01-01' + (i % 30000),
                  (ARRAY['FEMALE','MALE','OTHER','UNKNOWN']::"AdministrativeSex"[])[1 + i % 4],
                  TIMESTAMPTZ '2020-01-01 00:00:00+00' + i * INTERVAL '1 second',
                  TIMESTAMPTZ '2020-01-01 00:00:00+00' + i * INTERVAL '1 second',
                  'GRANTED'
           FROM generate_series($1::int, $2::int) AS i
           RETURNING id, mrn, "createdAt"
         )
         INSERT INTO "CareTeamMember" ("patientId", "patientCreatedAt", "clinicianSubject", "addedBy", "addedAt")
         SELECT id, "createdAt", $3, 'bench-seed', now() FROM inserted
         WHERE $4::int > 0 AND substring(mrn from 7)::int % $4::int = 0`,
        [from, to, options.clinician ?? 'bench-clinician', options.careTeamEvery ?? 0],
      );
      options.onProgress?.(to - first + 1);
    }
    await client.query('VACUUM ANALYZE "Patient"');
    await client.query('VACUUM ANALYZE "CareTeamMember"');
  } finally {
    await client.end();
  }
  return (performance.now() - started) / 1000;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { parseArgs } = await import('node:util');
  const { values } = parseArgs({
    options: {
      'database-url': { type: 'string' },
      count: { type: 'string' },
      'care-team-every': { type: 'string', default: '0' },
      clinician: { type: 'string', default: 'bench-clinician' },
    },
  });
  const url = values['database-url'] ?? process.env.DATABASE_URL;
  const count = Number(values.count);
  if (!url || !Number.isInteger(count) || count < 1) {
    console.error('usage: tsx bench/seed-patients.ts --database-url postgresql://... --count N [--care-team-every K --clinician SUB]');
    process.exit(2);
  }
  const seconds = await seedPatients(url, count, {
    careTeamEvery: Number(values['care-team-every']),
    clinician: values.clinician!,
    onProgress: (n) => process.stderr.write(`\r${n.toLocaleString('en')} patients`),
  });
  console.error(`\ninserted ${count.toLocaleString('en')} patients in ${seconds.toFixed(1)} s`);
}
