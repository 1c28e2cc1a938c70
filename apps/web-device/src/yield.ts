/**
 * Lets the page's event loop run (socket pings, rendering) between training steps. tfjs on wasm
 * and cpu resolves its promises synchronously, so an `await` chain of steps is all microtasks and
 * would otherwise starve the socket until the server drops it as dead.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}
