// The table-driven API tests' case files: tests/api/<name>.csv, a header row then one case per
// row; '#' lines and empty lines are skipped; a row shorter than the header gets "" for the rest.
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace mc2::api_test {

using CsvRow = std::map<std::string, std::string>;

inline std::vector<CsvRow> LoadCsvCases(const std::string& file) {
  std::ifstream in(std::string(MC2_API_TEST_DIR) + "/" + file);
  std::vector<std::string> header;
  std::vector<CsvRow> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cells;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) cells.push_back(cell);
    if (header.empty()) {
      header = cells;
      continue;
    }
    CsvRow row;
    for (size_t i = 0; i < header.size(); ++i) row[header[i]] = i < cells.size() ? cells[i] : "";
    rows.push_back(row);
  }
  return rows;
}

// "2x3x4" -> {2, 3, 4}.
inline std::vector<int64_t> ParseShape(const std::string& s) {
  std::vector<int64_t> dims;
  std::stringstream ss(s);
  std::string d;
  while (std::getline(ss, d, 'x')) dims.push_back(std::stoll(d));
  return dims;
}

}  // namespace mc2::api_test
