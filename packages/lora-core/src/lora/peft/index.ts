export { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, parsePeftConfig } from './config';
export type { ImportedPeftConfig, PeftLoraConfig } from './config';
export { exportPeft, peftKey } from './export';
export type { PeftExport, PeftExportOptions } from './export';
export { importPeft, loadPeftAdapter } from './import';
export type { PeftImport } from './import';
