/**
 * A row as it arrives inside a JSON value (a `json_agg` of rows): its
 * timestamp columns K are ISO strings (null where the column is nullable).
 */
export type JsonTimes<T, K extends keyof T> = Omit<T, K> & { [P in K]: null extends T[P] ? string | null : string };
