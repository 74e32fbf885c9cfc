import type { DefaultModel } from './defaults.ts';

/** Two years, in the days of pbcseq's time columns. */
const horizonDays = 730;

/**
 * The shipped sequence model: death within two years of a visit in primary
 * biliary cholangitis, from the patient's visits so far (datasets/pbcseq.csv).
 * A liver transplant censors: it ends the observation of the disease's own
 * course, so a window it cuts short has no label.
 */
export const pbcMortality: DefaultModel = {
  name: 'pbc-mortality',
  dataset: 'pbcseq.csv',
  featureSpec: 'pbcseq.features.json',
  options: {
    target: 'death_within_2y',
    task: 'binary',
    seed: 42,
    outcomeLabel: 'probability of death within 2 years',
    exclude: ['trt'],
    sequence: { id: 'id', time: 'day', eventWithin: { followUp: 'futime', status: 'status', eventValues: [2], horizon: horizonDays } },
  },
  card: {
    title: 'Death within 2 years in primary biliary cholangitis, from the patient\'s visits so far (PBC, Mayo Clinic)',
    intendedUse:
      'Decision support for hepatologists following adults with primary biliary cholangitis: estimates the probability of death within two years of the latest visit from the patient\'s history of laboratory values and findings (bilirubin, albumin, prothrombin time, edema and others), to inform follow-up intensity and referral for transplant assessment. It never replaces clinical judgement or a transplant work-up.',
    intendedUsers: 'Hepatologists and the people who audit the model.',
    outOfScope: [
      'Liver diseases other than primary biliary cholangitis.',
      'Patients treated with ursodeoxycholic acid or obeticholic acid, unknown when the source data were collected (the trial compared D-penicillamine and placebo).',
      'Deciding on transplant or treatment on the predicted probability alone.',
      'Horizons other than two years.',
    ],
    outcomeDefinition: `death within ${horizonDays} days of the visit (status 2 at futime). A visit whose ${horizonDays}-day window ends censored (follow-up ends earlier alive, or by liver transplant, status 1) has no label and is never an example, so censoring cannot bias the risk down; such visits still count as history for the patient's later visits.`,
    dataSource:
      'Mayo Clinic trial in primary biliary cholangitis (1974-1984), T. Therneau and P. Grambsch (2000), Modeling Survival Data, Springer; data set pbcseq of the R package survival (LGPL), as shipped by Debian\'s r-cran-survival 3.5-3 (datasets/pbcseq.csv).',
    population:
      '312 patients of a randomized trial at the Mayo Clinic (1974-1984), 1,945 visits; mostly women, adults aged 26 to 78 at entry. The treatment arm is left out as a predictor.',
    limitations: [
      'A trial population of the 1970s and 1980s: today\'s treatment (ursodeoxycholic acid) lowers risk, so the model likely overestimates it for treated patients.',
      'Visits were scheduled by the trial (about yearly); patients seen at other intervals are outside the data the gaps were learned from.',
      'Age is the age at entry to the trial, as the source records it.',
    ],
    ethicalConsiderations: [
      'Attributions (integrated gradients over the visit history, against a typical history of as many visits at the training means) show which features of which visits moved the risk; they explain the model, not the disease, and were checked for completeness and direction, not validated with clinicians.',
      'A predicted risk must not delay a transplant referral that clinical criteria already call for.',
      'Predictions should be recorded with the model version (the platform\'s audit log) so that decisions can be audited.',
    ],
  },
  qualityBars: [{ metric: 'auroc', min: 0.85 }],
};
