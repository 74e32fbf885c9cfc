-- Indexed name search: patients(filter: { nameContains }) matches any part of
-- a name, case-insensitively (ILIKE '%...%'), which a B-tree index cannot
-- serve; trigram GIN indexes can (schema.prisma declares them). The extension
-- is created here by hand: pg_trgm is a trusted extension (PostgreSQL 13 and
-- later), so the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX "Patient_givenName_trgm_idx" ON "Patient" USING gin ("givenName" gin_trgm_ops);

CREATE INDEX "Patient_familyName_trgm_idx" ON "Patient" USING gin ("familyName" gin_trgm_ops);
