export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` until it holds; throws, naming `what`, after `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  for (const until = Date.now() + timeoutMs; !(await condition()); await sleep(10)) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
  }
}
