#include <cstdio>
int main() { std::puts("mc2"); return 0; }
