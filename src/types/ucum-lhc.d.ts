// The part of @lhncbc/ucum-lhc (which ships no types) the FHIR import uses.
declare module '@lhncbc/ucum-lhc' {
  interface Conversion {
    status: 'succeeded' | 'failed' | 'error';
    toVal: number | null;
    msg: string[];
  }
  interface Validation {
    status: 'valid' | 'invalid' | 'error';
    ucumCode: string | null;
  }
  interface UcumLhcUtils {
    convertUnitTo(fromUnit: string, value: number, toUnit: string): Conversion;
    validateUnitString(unit: string, suggest?: boolean): Validation;
  }
  const ucum: { UcumLhcUtils: { getInstance(): UcumLhcUtils } };
  export default ucum;
}
