// The mc2 command: one subcommand per file, each registering itself on the CLI11 app.
#pragma once

#include <CLI/CLI.hpp>

namespace mc2::cli {

// Each returns the subcommand it added; its callback sets the process exit code in `*exit_code`.
CLI::App* AddDemo(CLI::App& app, int* exit_code);
CLI::App* AddInfo(CLI::App& app, int* exit_code);
CLI::App* AddRunOp(CLI::App& app, int* exit_code);
CLI::App* AddCompare(CLI::App& app, int* exit_code);
CLI::App* AddGenInputs(CLI::App& app, int* exit_code);
CLI::App* AddLaunch(CLI::App& app, int* exit_code);
CLI::App* AddBench(CLI::App& app, int* exit_code);

}  // namespace mc2::cli
