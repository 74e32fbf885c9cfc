import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Patient } from '../../src/patients/patient.repository.ts';
import type { Case, Observation } from '../../src/cases/case.repository.ts';
import { CodeCatalog } from '../../src/fhir/code-catalog.ts';
import { ageBand, deidentifiedObservation, deidentifiedPatient, Deidentifier, Pseudonymizer, QuasiIdentifierGroups, zip3 } from '../../src/fhir/deidentify.ts';

const today = new Date('2026-12-01T00:00:00Z');

function patient(id: string, birthDate: string, sex: Patient['sex'], address: string | null): Patient {
  const at = new Date('2026-01-01T00:00:00Z');
  return { id, mrn: `MRN-${id}`, givenName: 'Given', familyName: 'Family', birthDate: new Date(`${birthDate}T00:00:00Z`), sex, phone: '+1 555 0100', email: null, address, createdAt: at, updatedAt: at, archivedAt: null, mergedIntoId: null, aiConsent: 'GRANTED', aiConsentUpdatedAt: null };
}

describe('De-identification profiles', () => {
  it('groups everyone over 89 as 90+ and gives them no birth date', () => {
    const p = new Deidentifier('shifted-dates', new Pseudonymizer('key-one-0123456789abcdef0123456789'));
    const old = deidentifiedPatient(patient('a', '1930-06-01', 'MALE', null), p, today);
    assert.equal(old.birthDate, undefined);
    assert.deepEqual(old.extension, [{ url: 'urn:clinigraph:fhir:StructureDefinition:age-band', valueString: '90+' }]);
    const eightyNine = deidentifiedPatient(patient('b', '1937-06-01', 'MALE', null), p, today);
    assert.equal(eightyNine.extension![0]!.valueString, '85-89');
    assert.notEqual(eightyNine.birthDate, '1937-06-01');
    assert.match(eightyNine.birthDate!, /^\d{4}-\d{2}-\d{2}$/);
  });

  it('keeps only the year of a date under Safe Harbor (the default profile), and no year over 89', () => {
    const p = new Deidentifier('safe-harbor', new Pseudonymizer('key-one-0123456789abcdef0123456789'));
    assert.equal(deidentifiedPatient(patient('b', '1937-06-01', 'MALE', null), p, today).birthDate, '1937');
    assert.equal(deidentifiedPatient(patient('a', '1930-06-01', 'MALE', null), p, today).birthDate, undefined);
    assert.equal(p.instant(new Date('2026-03-02T08:00:00Z'), 'b'), '2026');
    assert.equal(ageBand(90), '90+');
    assert.equal(ageBand(89), '85-89');
  });

  it('pseudonymizes with the key: stable for one key, different for another, never the MRN', () => {
    const one = new Pseudonymizer('key-one-0123456789abcdef0123456789');
    const two = new Pseudonymizer('key-two-0123456789abcdef0123456789');
    const person = patient('c', '1980-02-03', 'FEMALE', '1 Main St, Boston, MA 02139');
    const first = deidentifiedPatient(person, new Deidentifier('shifted-dates', one), today);
    assert.deepEqual(deidentifiedPatient(person, new Deidentifier('shifted-dates', one), today), first);
    assert.notEqual(deidentifiedPatient(person, new Deidentifier('shifted-dates', two), today).id, first.id);
    assert.ok(!JSON.stringify(first).includes('MRN-c') && !JSON.stringify(first).includes('02139') && !JSON.stringify(first).includes('Family'));
    // The two profiles' pseudonyms differ, so a Safe Harbor export's years cannot be joined to a shifted-dates export's days.
    const safeHarbor = deidentifiedPatient(person, new Deidentifier('safe-harbor', one), today);
    assert.deepEqual(deidentifiedPatient(person, new Deidentifier('safe-harbor', one), today).id, safeHarbor.id);
    assert.notEqual(safeHarbor.id, first.id);
    assert.notEqual(safeHarbor.identifier![0]!.value, first.identifier![0]!.value);
    const shift = one.shiftDays('c');
    assert.ok(shift !== 0 && Math.abs(shift) <= 180);
    assert.equal(one.shiftDays('c'), shift);
  });

  it('suppresses groups smaller than k over age band, sex and 3-digit ZIP, and counts them', () => {
    const group = ['1', '2', '3'].map((id) => patient(id, '1980-01-01', 'FEMALE', 'Boston, MA 02139'));
    const alone = patient('4', '1980-01-01', 'MALE', 'Boston, MA 02139');
    const everyone = [...group, alone];
    const groups = new QuasiIdentifierGroups(today);
    // Counted a page at a time, as an export reads them.
    groups.add(everyone.slice(0, 2));
    groups.add(everyone.slice(2));
    assert.deepEqual(everyone.filter((p) => groups.keeps(p, 3)).map((p) => p.id), ['1', '2', '3']);
    assert.deepEqual(groups.report(3), { k: 3, groups: 2, smallestKeptGroup: 3, patientsKept: 3, patientsSuppressed: 1 });
    assert.deepEqual(everyone.filter((p) => groups.keeps(p, 4)).map((p) => p.id), []);
    assert.deepEqual(groups.report(4), { k: 4, groups: 2, smallestKeptGroup: null, patientsKept: 0, patientsSuppressed: 4 });
    assert.equal(zip3('Boston, MA 02139-4307'), '021');
    assert.equal(zip3(null), '*');
  });

  it("keeps a quantity's unit only as a UCUM code: a sender's free-text unit, or one with a UCUM annotation, goes and the value stays", () => {
    const p = new Deidentifier('safe-harbor', new Pseudonymizer('key-one-0123456789abcdef0123456789'));
    const at = new Date('2026-03-02T08:00:00Z');
    const episode: Case = { id: 'c1', patientId: 'p1', title: 'Visit', status: 'OPEN', openedAt: at, startedAt: null, closedAt: null, endedAt: null };
    // A feature recorded in 'years' (UCUM 'a'), and codes no feature names, stored in whatever unit the sender wrote.
    const catalog = new CodeCatalog([{ feature: 'age', coding: { system: 'http://loinc.org', code: '30525-0' }, unit: 'years', ucum: 'a' }]);
    const quantity = (code: string, unit: string | null) => {
      const observation: Observation = { id: `o-${code}`, caseId: episode.id, code, value: 7.5, text: null, unit, observedAt: at, createdAt: at };
      return deidentifiedObservation(observation, episode, catalog, p).valueQuantity;
    };
    const ucum = 'http://unitsofmeasure.org';
    assert.deepEqual(quantity('GLU', 'mg/dL per Dr Smith'), { value: 7.5 });
    assert.deepEqual(quantity('GLU', 'mg/dL{Dr.Smith}'), { value: 7.5 });
    assert.deepEqual(quantity('GLU', '{JohnSmith}'), { value: 7.5 });
    assert.deepEqual(quantity('GLU', 'mg/dL'), { value: 7.5, unit: 'mg/dL', system: ucum, code: 'mg/dL' });
    assert.deepEqual(quantity('age', 'years'), { value: 7.5, system: ucum, code: 'a' });
    assert.deepEqual(quantity('GLU', null), { value: 7.5 });
  });
});
