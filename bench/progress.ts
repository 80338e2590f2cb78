/**
 * The progress bar of a run, on stderr (so stdout keeps only the results), drawn by cli-progress.
 * On a terminal it redraws in place; without one it prints a line every few seconds, because
 * cli-progress prints nothing there unless told to (`noTTYOutput`).
 *
 * @module
 */

// @ts-types="npm:@types/cli-progress@3.11.6"
import cliProgress from "npm:cli-progress@3.12.0";
import process from "node:process";
import type { StudyProgress } from "./study.ts";

/** A progress bar that {@link runStudy} reports to; `stop()` it when the run ends. */
export interface ProgressBar extends StudyProgress {
  stop(): void;
}

/** A bar on stderr, or one that shows nothing when `enabled` is false. */
export function progressBar(enabled: boolean): ProgressBar {
  if (!enabled) return { step() {}, stop() {} };
  const tty = process.stderr.isTTY === true;
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: "{bar} {percentage}% | {value}/{total} | ETA {eta_formatted} | {what}",
    noTTYOutput: !tty,
    notTTYSchedule: 5_000,
    hideCursor: tty,
    etaBuffer: 50,
    barsize: 30,
  }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    step(done, total, what) {
      if (!started) {
        bar.start(total, done, { what });
        started = true;
      } else bar.update(done, { what });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
