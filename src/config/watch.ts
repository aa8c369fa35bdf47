/**
 * Watches a config file for changes. The directory is watched, not the file: editors and
 * Kubernetes ConfigMap volumes replace files by rename (Kubernetes swaps a `..data` symlink), which
 * a watch on the old inode never sees. Bursts of events are folded into one call.
 */
import { type FSWatcher, watch } from "node:fs";
import { basename, dirname } from "node:path";

export interface ConfigWatch {
  close(): void;
}

export function watchConfigFile(
  file: string,
  onChange: () => void,
  onError: (message: string) => void,
  debounceMs = 300,
): ConfigWatch {
  const name = basename(file);
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(file), (_event, changed) => {
      if (changed !== null && changed !== name && changed !== "..data") return;
      clearTimeout(timer);
      timer = setTimeout(onChange, debounceMs);
    });
    watcher.on("error", (error) => onError(`config file watch stopped: ${error.message}`));
  } catch (error) {
    onError(`cannot watch the config file (${(error as Error).message}); use SIGHUP or \`bulwark reload\``);
  }
  return {
    close() {
      clearTimeout(timer);
      watcher?.close();
    },
  };
}
