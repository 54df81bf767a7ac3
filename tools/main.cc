// mc2: run, check and benchmark CANN's fused communication + computation operators on CPUs.
#include <cstdio>
#include <exception>

#include "cli.h"
#include "ranks.h"

int main(int argc, char** argv) {
  mc2::cli::RememberCommandLine(argc, argv);
  CLI::App app{"mc2: CANN's fused communication + computation operators (MC2) on CPUs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", MC2_VERSION);
  int exit_code = 0;
  mc2::cli::AddDemo(app, &exit_code);
  mc2::cli::AddInfo(app, &exit_code);
  mc2::cli::AddRunOp(app, &exit_code);
  mc2::cli::AddCompare(app, &exit_code);
  mc2::cli::AddGenInputs(app, &exit_code);
  mc2::cli::AddLaunch(app, &exit_code);
  mc2::cli::AddBench(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);  // usage message, non-zero for real errors
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mc2: %s\n", e.what());  // never a stack trace
    return 1;
  }
  return exit_code;
}
