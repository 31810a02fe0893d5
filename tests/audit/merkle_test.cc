// The Merkle tree against the naive reference (tests/audit/reference_merkle.h),
// the RFC 6962 8-leaf roots as fixed constants, and the published
// transparency-dev proof vectors read in place when they are beside the repo.
#include "core/audit/merkle.h"

#include <filesystem>
#include <random>

#include "core/audit/proof_json.h"
#include "core/base/encoding.h"
#include "core/base/file_util.h"
#include "tests/audit/reference_merkle.h"
#include "tests/testing/status_matchers.h"

namespace kp::audit {
namespace {
namespace KP_TEST_FILE {  // unity batches: cmake/KetenpoortHelpers.cmake, kp_test

using ::kp::testing::IsOk;
using ::kp::testing::StatusIs;

std::string Hex(const std::string& h) { return HexEncode(h); }

std::vector<std::string> ReferenceLeaves() {
  std::vector<std::string> out;
  for (const char* hex : {"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                          "606162636465666768696a6b6c6d6e6f"}) {
    out.push_back(*HexDecode(hex));
  }
  return out;
}

// RFC 6962 reference tree roots (also in the transparency-dev README).
const char* const kRoots[] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

// A production tree held as a post-order node string, read like the tree file.
struct NodeStringTree {
  CompactRange range;
  std::string nodes;
  std::vector<std::string> roots;  // root after each size, [0] = empty

  explicit NodeStringTree(const std::vector<std::string>& leaves) {
    roots.push_back(range.Root());
    for (const std::string& l : leaves) {
      range.Append(HashLeaf(l), &nodes);
      roots.push_back(range.Root());
    }
  }
  NodeReader Reader() const {
    return [this](int level, uint64_t index) -> Result<std::string> {
      uint64_t pos = PostOrderPosition(level, index);
      if ((pos + 1) * kHashBytes > nodes.size()) return OutOfRangeError("beyond the node string");
      return nodes.substr(pos * kHashBytes, kHashBytes);
    };
  }
};

TEST(AuditMerkleTest, EightLeafReferenceRootsAreFixed) {
  std::vector<std::string> leaves = ReferenceLeaves();
  NodeStringTree tree(leaves);
  for (size_t size = 0; size <= 8; ++size) {
    EXPECT_EQ(Hex(tree.roots[size]), kRoots[size]) << "size " << size;
    EXPECT_EQ(Hex(reference::Root(leaves, size)), kRoots[size]) << "reference, size " << size;
  }
}

TEST(AuditMerkleTest, PostOrderLayoutCountsEveryNode) {
  EXPECT_EQ(PostOrderNodeCount(0), 0u);
  EXPECT_EQ(PostOrderNodeCount(1), 1u);
  EXPECT_EQ(PostOrderNodeCount(4), 7u);
  EXPECT_EQ(PostOrderNodeCount(5), 8u);
  EXPECT_EQ(PostOrderPosition(0, 0), 0u);
  EXPECT_EQ(PostOrderPosition(1, 0), 2u);
  EXPECT_EQ(PostOrderPosition(2, 0), 6u);
  EXPECT_EQ(PostOrderPosition(0, 4), 7u);
  for (uint64_t n = 0; n < 3000; ++n) {
    ASSERT_EQ(TreeSizeForNodeCount(PostOrderNodeCount(n)), n);
    if (n > 0) {
      ASSERT_EQ(TreeSizeForNodeCount(PostOrderNodeCount(n) - 1), n - 1);
    }
  }
}

TEST(AuditMerkleTest, RandomTreesAgreeWithReference) {
  std::mt19937_64 rng(42);
  // A big tree checked against the reference at sampled sizes, plus every
  // size up to 70 exhaustively.
  std::vector<std::string> leaves;
  for (int i = 0; i < 3000; ++i) {
    std::string leaf(rng() % 40, '\0');
    for (char& c : leaf) c = static_cast<char>(rng());
    leaves.push_back(leaf);
  }
  NodeStringTree tree(leaves);
  std::vector<uint64_t> sizes;
  for (uint64_t s = 1; s <= 70; ++s) sizes.push_back(s);
  for (uint64_t s : {127, 128, 129, 1000, 1023, 1024, 1025, 2047, 2999, 3000}) sizes.push_back(s);
  for (uint64_t size : sizes) {
    ASSERT_EQ(tree.roots[size], reference::Root(leaves, size)) << "size " << size;
    ASSERT_OK_AND_ASSIGN(std::string sub, SubtreeRoot(tree.Reader(), 0, size));
    ASSERT_EQ(sub, tree.roots[size]);
    std::vector<uint64_t> indexes = {0, size - 1, size / 2, rng() % size};
    for (uint64_t index : indexes) {
      ASSERT_OK_AND_ASSIGN(auto proof, InclusionProof(tree.Reader(), index, size));
      ASSERT_EQ(proof, reference::Path(leaves, index, size)) << index << "/" << size;
      std::string leaf_hash = HashLeaf(leaves[index]);
      ASSERT_THAT(VerifyInclusion(index, size, leaf_hash, proof, tree.roots[size]), IsOk());
      ASSERT_EQ(reference::RootFromPath(index, size, leaf_hash, proof), tree.roots[size]);
    }
    std::vector<uint64_t> olds = {1, size, size / 2 + 1, 1 + rng() % size};
    for (uint64_t old : olds) {
      if (old == 0 || old > size) continue;
      ASSERT_OK_AND_ASSIGN(auto proof, ConsistencyProof(tree.Reader(), old, size));
      ASSERT_EQ(proof, reference::Proof(leaves, old, size)) << old << "->" << size;
      ASSERT_THAT(VerifyConsistency(old, size, proof, tree.roots[old], tree.roots[size]), IsOk())
          << old << "->" << size;
    }
  }
}

TEST(AuditMerkleTest, EveryFlippedBitOfAProofIsRejected) {
  std::vector<std::string> leaves;
  for (int i = 0; i < 37; ++i) leaves.push_back("leaf " + std::to_string(i));
  NodeStringTree tree(leaves);
  ASSERT_OK_AND_ASSIGN(auto incl, InclusionProof(tree.Reader(), 13, 37));
  ASSERT_OK_AND_ASSIGN(auto cons, ConsistencyProof(tree.Reader(), 13, 37));
  for (size_t e = 0; e < incl.size(); ++e) {
    for (size_t bit = 0; bit < kHashBytes * 8; ++bit) {
      auto bad = incl;
      bad[e][bit / 8] ^= static_cast<char>(1 << (bit % 8));
      ASSERT_THAT(VerifyInclusion(13, 37, HashLeaf(leaves[13]), bad, tree.roots[37]),
                  StatusIs(StatusCode::kUnauthenticated));
    }
  }
  for (size_t e = 0; e < cons.size(); ++e) {
    for (size_t bit = 0; bit < kHashBytes * 8; ++bit) {
      auto bad = cons;
      bad[e][bit / 8] ^= static_cast<char>(1 << (bit % 8));
      ASSERT_THAT(VerifyConsistency(13, 37, bad, tree.roots[13], tree.roots[37]),
                  StatusIs(StatusCode::kUnauthenticated));
    }
  }
  // Wrong index, size, short and long proofs.
  EXPECT_FALSE(VerifyInclusion(12, 37, HashLeaf(leaves[13]), incl, tree.roots[37]).ok());
  EXPECT_FALSE(VerifyInclusion(13, 80, HashLeaf(leaves[13]), incl, tree.roots[37]).ok());
  EXPECT_FALSE(VerifyInclusion(37, 37, HashLeaf(leaves[13]), incl, tree.roots[37]).ok());
  auto shorter = incl;
  shorter.pop_back();
  EXPECT_FALSE(VerifyInclusion(13, 37, HashLeaf(leaves[13]), shorter, tree.roots[37]).ok());
  auto longer = incl;
  longer.push_back(tree.roots[1]);
  EXPECT_FALSE(VerifyInclusion(13, 37, HashLeaf(leaves[13]), longer, tree.roots[37]).ok());
  EXPECT_THAT(VerifyInclusion(13, 37, "short", incl, tree.roots[37]), StatusIs(StatusCode::kInvalidArgument));
}

TEST(AuditMerkleTest, ConsistencyEdgeCases) {
  std::string r(32, 'r');
  EXPECT_THAT(VerifyConsistency(2, 1, {}, r, r), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(VerifyConsistency(0, 0, {}, r, r), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(VerifyConsistency(0, 5, {}, r, r), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(VerifyConsistency(3, 3, {}, r, r), IsOk());
  EXPECT_FALSE(VerifyConsistency(3, 3, {r}, r, r).ok());
  EXPECT_FALSE(VerifyConsistency(3, 3, {}, r, std::string(32, 's')).ok());
  EXPECT_FALSE(VerifyConsistency(3, 5, {}, r, r).ok());
}

// The published transparency-dev/merkle vectors, read in place. Skipped when
// the shared folder is not beside the repo; never the only oracle.
TEST(AuditMerkleTest, SharedVectorsVerifyExactlyAsExpected) {
  std::filesystem::path root = std::filesystem::path(::kp::testing::SourceDir()) / ".." / "shared" / "testdata" / "merkle";
  if (!std::filesystem::is_directory(root)) GTEST_SKIP() << "no shared test data at " << root;
  int files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (!e.is_regular_file() || e.path().extension() != ".json") continue;
    ASSERT_OK_AND_ASSIGN(std::string text, ReadFileBounded(e.path().string(), 1 << 20));
    bool want_err = text.find("\"wantErr\": true") != std::string::npos ||
                    text.find("\"wantErr\":true") != std::string::npos;
    ProofCheck check = CheckProofJson(text);
    ASSERT_NE(check.verdict, ProofVerdict::kUnreadable) << e.path() << ": " << check.message;
    EXPECT_EQ(check.verdict == ProofVerdict::kInvalid, want_err) << e.path() << ": " << check.message;
    ++files;
  }
  EXPECT_EQ(files, 196);
}

}  // namespace KP_TEST_FILE
}  // namespace
}  // namespace kp::audit
