/* Sub-commands of the onnx-lrsc executable; each parses its own options and
 * returns the process exit status (0 ok, 1 failure, 2 usage error). */
#ifndef LRSC_CLI_COMMANDS_H
#define LRSC_CLI_COMMANDS_H

int lrsc_cli_info(int argc, char **argv);
int lrsc_cli_dump(int argc, char **argv);
int lrsc_cli_run(int argc, char **argv);
int lrsc_cli_compress(int argc, char **argv);

#endif
