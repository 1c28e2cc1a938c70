/** What the page can learn about its WebGPU adapter (vendor, architecture, whether it is a software fallback). */
import type { GpuAdapterInfo } from '../core';

interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}
interface AdapterLike {
  info?: AdapterInfoLike;
  isFallbackAdapter?: boolean;
  requestAdapterInfo?: () => Promise<AdapterInfoLike>;
}
interface GpuLike {
  requestAdapter(): Promise<AdapterLike | null>;
}

const clip = (s: string | undefined) => (s ? s.slice(0, 200) : undefined);

/** Undefined when the browser has no WebGPU adapter at all. */
export async function readGpuAdapterInfo(): Promise<GpuAdapterInfo | undefined> {
  const gpu = (navigator as Navigator & { gpu?: GpuLike }).gpu;
  if (!gpu) return undefined;
  let adapter: AdapterLike | null;
  try {
    adapter = await gpu.requestAdapter();
  } catch {
    return undefined;
  }
  if (!adapter) return undefined;
  const info: AdapterInfoLike = adapter.info ?? (await adapter.requestAdapterInfo?.().catch(() => ({}))) ?? {};
  const text = `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.description ?? ''}`.toLowerCase();
  const fallback = info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false;
  const out: GpuAdapterInfo = {
    isFallbackAdapter: fallback || text.includes('swiftshader'),
  };
  return Object.fromEntries(
    Object.entries({ ...out, vendor: clip(info.vendor), architecture: clip(info.architecture), device: clip(info.device), description: clip(info.description) }).filter(
      ([, v]) => v !== undefined && v !== '',
    ),
  ) as GpuAdapterInfo;
}
