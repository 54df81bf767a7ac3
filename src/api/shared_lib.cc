// The one translation unit of libmc2.so itself: everything else comes from the mc2_api archive
// (linked whole) and the layers below it. CMake needs a source to build a shared library from.
namespace mc2::api {
int SharedLibraryMarker() { return 0; }
}  // namespace mc2::api
