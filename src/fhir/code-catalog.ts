import ucum from '@lhncbc/ucum-lhc';
import type { Coding, Quantity } from '@medplum/fhirtypes';
import path from 'node:path';
import { datasetsDir, defaultModels, type FeatureInfo, readFeatureSpec } from '../pipeline/index.ts';
import type { ProductionFeaturesRepository } from './production-features.repository.ts';
import { isUcumText } from './terminology-systems.ts';

export const loincSystem = 'http://loinc.org';
export const ucumSystem = 'http://unitsofmeasure.org';
/** How long the versions in production, once read, are taken as current: a promotion on another replica shows within it. */
export const catalogMaxAgeMs = 5_000;
/** Codes of observations no model feature names: the stored code, as a coding. */
const localObservationSystem = 'urn:clinigraph:observation-code';

/** A model feature as FHIR observations carry it. */
export interface FeatureCode {
  /** The feature's name: what observations are stored under, what models read. */
  feature: string;
  coding: Coding;
  /** The unit the model expects, as the feature specification writes it (null: none). */
  unit: string | null;
  /** The same unit in UCUM, when it has one: what other units are converted to. */
  ucum: string | null;
}

const ucumUtils = ucum.UcumLhcUtils.getInstance();

/** A stored value in the feature's unit, or why the value's unit cannot be converted to it. */
export type Converted = { value: number; unit: string | null } | { refused: string };

/**
 * The codes of the features of the models in production (their stored
 * feature specifications: a user model's `--features`, a shipped model's
 * datasets/*.features.json), so that imported observations are stored under
 * the feature a model reads, whichever of their codings names it, in the unit
 * the model expects.
 */
export class CodeCatalog {
  private byCoding = new Map<string, FeatureCode>();
  private byFeature = new Map<string, FeatureCode>();
  /** The production versions the catalog was built from. */
  private builtFrom: string | undefined;
  /** When (performance.now) the versions in production were last read; -Infinity: to read on the next refresh. */
  private checkedAt = -Infinity;
  /** How many times `invalidate` was called: a refresh under way when it is does not count as current. */
  private invalidations = 0;

  /** @param maxAgeMs how long the versions in production, once read, are taken as current (other processes' promotions show within it) */
  constructor(features: FeatureCode[] = [], private readonly maxAgeMs = catalogMaxAgeMs) {
    this.use(features);
  }

  private use(features: FeatureCode[]): void {
    const byCoding = new Map<string, FeatureCode>();
    const byFeature = new Map<string, FeatureCode>();
    // A code two models share (cholesterol, age) keeps the first registered model's feature, so adding a model never remaps another's.
    for (const feature of features) {
      const coding = key(feature.coding.system, feature.coding.code);
      if (!byCoding.has(coding)) byCoding.set(coding, feature);
      if (!byFeature.has(feature.feature)) byFeature.set(feature.feature, feature);
    }
    [this.byCoding, this.byFeature] = [byCoding, byFeature];
  }

  /**
   * Rebuilds the catalog when the versions in production changed since it
   * was built (a promotion, a new model, here or on another replica). They
   * are read at most once every `maxAgeMs` (each FHIR request refreshes, and
   * asking the database each time cost a query a request), or on the next
   * refresh after `invalidate` (a promotion in this process).
   */
  async refresh(production: ProductionFeaturesRepository): Promise<void> {
    if (performance.now() - this.checkedAt < this.maxAgeMs) return;
    const [startedAt, invalidations] = [performance.now(), this.invalidations];
    const ids = await production.versionIds();
    if (ids !== this.builtFrom) {
      const features: FeatureCode[] = [];
      for (const version of await production.versions()) features.push(...(await featureCodesOf(version.modelName, version.features)));
      this.use(features);
      this.builtFrom = ids;
    }
    // A promotion committed while this read ran may be missing from it: then the next refresh reads again.
    if (invalidations === this.invalidations) this.checkedAt = startedAt;
  }

  /** The versions in production changed (a promotion here): the next refresh reads them. */
  invalidate(): void {
    this.checkedAt = -Infinity;
    this.invalidations += 1;
  }

  /** The feature one of these codings names, if any. */
  match(codings: Coding[] | undefined): FeatureCode | undefined {
    return (codings ?? []).map((coding) => this.byCoding.get(key(coding.system, coding.code))).find((found) => found !== undefined);
  }

  /** The UCUM code of a stored unit (the feature's, when the unit is written otherwise). */
  ucumOf(storedCode: string, unit: string): string {
    const feature = this.byFeature.get(storedCode);
    return feature?.unit === unit && feature.ucum ? feature.ucum : unit;
  }

  /** The coding an observation stored under this code is read back with. */
  codingOf(storedCode: string): Coding {
    return this.featureCodingOf(storedCode) ?? { system: localObservationSystem, code: storedCode };
  }

  /** The coding of the model feature this stored code names (from the feature specification, not a sender), if it names one. */
  featureCodingOf(storedCode: string): Coding | undefined {
    return this.byFeature.get(storedCode)?.coding;
  }
}

const key = (system: string | undefined, code: string | undefined) => `${system ?? ''}|${code ?? ''}`;

/**
 * A version's coded features, as its stored feature specification gives
 * them; a shipped model's version stored before features kept their codes
 * reads them from its specification in datasets/.
 */
async function featureCodesOf(modelName: string, stored: FeatureInfo[]): Promise<FeatureCode[]> {
  const codedAsStored = stored.filter((info) => info.code).map((info) => ({ name: info.name, unit: info.unit, code: info.code! }));
  const shipped = defaultModels.find((model) => model.name === modelName);
  const coded = codedAsStored.length || !shipped ? codedAsStored : Object.entries((await readFeatureSpec(path.join(datasetsDir, shipped.featureSpec))).features).flatMap(([name, info]) => (info.code ? [{ name, unit: info.unit, code: info.code }] : []));
  return coded.map(({ name, unit, code: { system, code, display, ucum: ucumUnit } }) => ({ feature: name, coding: { system, code, ...(display ? { display } : {}) }, unit, ucum: ucumUnit ?? asUcum(unit) }));
}

/** The unit itself when it is valid UCUM, else null. */
function asUcum(unit: string | null): string | null {
  return unit !== null && ucumUtils.validateUnitString(unit).status === 'valid' ? unit : null;
}

/**
 * A quantity in the feature's unit: UCUM units commensurable with it are
 * converted by the UCUM library; a unit that is not, or that is not UCUM and
 * not the feature's own, is refused with the reason.
 */
export function toFeatureUnit(quantity: Quantity, feature: FeatureCode): Converted {
  const value = quantity.value!;
  const given = quantity.system === ucumSystem || (quantity.code && !quantity.system) ? quantity.code : undefined;
  if (feature.unit === null) return { value, unit: given ?? quantity.unit ?? null };
  if (given === undefined) {
    if (quantity.unit === feature.unit) return { value, unit: feature.unit };
    return { refused: `${feature.feature} is recorded in ${feature.unit}; give the quantity's unit as a UCUM code (system ${ucumSystem}).` };
  }
  if (given === feature.ucum || given === feature.unit) return { value, unit: feature.unit };
  if (!feature.ucum) return { refused: `${feature.feature} is recorded in ${feature.unit}, which has no UCUM equivalent: send it in ${feature.unit}.` };
  if (!isUcumText(given)) return { refused: `${feature.feature} is recorded in ${feature.unit}; the quantity's unit is not a UCUM code.` };
  const converted = ucumUtils.convertUnitTo(given, value, feature.ucum);
  if (converted.status !== 'succeeded' || converted.toVal === null) {
    return { refused: `${given} cannot be converted to ${feature.ucum} (${feature.feature}): ${converted.msg.join(' ') || 'the units are not commensurable'}` };
  }
  return { value: converted.toVal, unit: feature.unit };
}
