#!/usr/bin/env node
/** The attestor command. */
import 'reflect-metadata';
import { attestorProgram } from './program.ts';
import { runCommand } from './run.ts';

const code = await runCommand(attestorProgram(), process.argv);
if (code !== undefined) process.exitCode = code;
