/** Fetches the global adapter (TFAD bytes, or a PEFT adapter folder as a tar) with the admin token and saves it as a download. */

export async function downloadAdapter(runId: string, round: number | undefined, adminToken: string): Promise<string> {
  const url = new URL('/api/admin/adapter', window.location.origin);
  url.searchParams.set('runId', runId);
  if (round !== undefined) url.searchParams.set('round', String(round));
  return download(url, `${runId}${round === undefined ? '' : `-round${round}`}.tfad`, adminToken);
}

/** Causal-LM runs: the round's adapter in PEFT's format (a tar of adapter_config.json + adapter_model.safetensors). */
export async function downloadPeftAdapter(runId: string, round: number, adminToken: string): Promise<string> {
  const url = new URL(`/api/admin/runs/${encodeURIComponent(runId)}/export`, window.location.origin);
  url.searchParams.set('format', 'peft');
  url.searchParams.set('round', String(round));
  return download(url, `${runId}-round${round}-peft.tar`, adminToken);
}

async function download(url: URL, name: string, adminToken: string): Promise<string> {
  const res = await fetch(url, { headers: { Authorization: `Bearer ${adminToken}` } });
  if (!res.ok) {
    const detail = (await res.text().catch(() => '')).slice(0, 200);
    throw new Error(`export failed: HTTP ${res.status}${detail ? ` — ${detail}` : ''}`);
  }
  const blob = await res.blob();
  const href = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = href;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
  return name;
}
