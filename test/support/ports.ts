/**
 * A free loopback TCP port for a server the tests start from a real binary (redis-server,
 * postgres, nginx), which cannot be told to pick port 0 and report it back.
 */
import { createServer } from "node:net";

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
