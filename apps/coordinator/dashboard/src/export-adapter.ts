/** Fetches the global adapter (TFAD bytes) with the admin token and saves it as a download. */

export async function downloadAdapter(runId: string, round: number | undefined, adminToken: string): Promise<string> {
  const url = new URL('/api/admin/adapter', window.location.origin);
  url.searchParams.set('runId', runId);
  if (round !== undefined) url.searchParams.set('round', String(round));
  const res = await fetch(url, { headers: { Authorization: `Bearer ${adminToken}` } });
  if (!res.ok) {
    const detail = (await res.text().catch(() => '')).slice(0, 200);
    throw new Error(`export failed: HTTP ${res.status}${detail ? ` — ${detail}` : ''}`);
  }
  const blob = await res.blob();
  const name = `${runId}${round === undefined ? '' : `-round${round}`}.tfad`;
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
