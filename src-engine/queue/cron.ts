import { CronExpressionParser } from 'cron-parser';
import { AppError } from '../errors.ts';

/** The first time strictly after `after` that `cron` fires in time zone `tz`; VALIDATION_ERROR if either is bad. */
export function nextCronRun(cron: string, tz: string, after: number): number {
  try {
    return CronExpressionParser.parse(cron, { currentDate: after, tz }).next().getTime();
  } catch (err) {
    throw new AppError('VALIDATION_ERROR', `Invalid schedule "${cron}" (${tz}): ${(err as Error).message}`);
  }
}
