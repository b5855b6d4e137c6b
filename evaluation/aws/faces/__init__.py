"""The calls of the face operations: fewer, bigger steps than one call per image, and a collection that
must not outlive the run.

Each fetcher plans without a call (every image read and checked, every stored answer found: what a dry
run prints and --max-cost checks) and fetches what is missing, storing one answer per dataset item in
the response cache, as the image runner does, so images.csv, re-analysis and reports work unchanged:

- `CollectionVerification` (face-verification on an identity dataset): every image is indexed once into
  a temporary collection (IndexFaces, MaxFaces 1: the one face kept is the service's best, normally the
  largest) and searched once by its FaceId (SearchFaces, FaceMatchThreshold 0, MaxFaces = the
  collection's size, at most 4,096): about two calls per image give the similarity of every pair. An
  item's answer is {"IndexFaces": ..., "SearchFaces": ...} as the service sent them; faces are named by
  ExternalImageId = `external_id(image_id)`, so the answers read without the collection. The answer's
  key holds a fingerprint of the whole gallery: a rerun over the same images calls nothing.
- `PairComparison` (face-verification on explicit pairs): CompareFaces at SimilarityThreshold 0, one call
  per pair, each cached by both images' ids and the request; an item's answer holds the comparisons in
  which it is the first image.
- `GallerySearch` (face-search): the gallery is indexed into a temporary collection (or an existing
  collection is read, never modified), and each probe is searched (SearchFacesByImage, or with users
  SearchUsersByImage after CreateUser/AssociateFaces per identity).
- `LivenessResults` (liveness): GetFaceLivenessSessionResults per session, stored without image bytes
  (S3 references are kept); or answers saved earlier (a JSON Lines file) stored as if called.
"""

from evaluation.aws.faces.base import FaceFetcher, FaceRunInterrupted, external_id, gallery_fingerprint
from evaluation.aws.faces.liveness import LivenessResults
from evaluation.aws.faces.search import GallerySearch
from evaluation.aws.faces.verification import CollectionVerification, PairComparison

__all__ = [
    "CollectionVerification",
    "FaceFetcher",
    "FaceRunInterrupted",
    "GallerySearch",
    "LivenessResults",
    "PairComparison",
    "external_id",
    "gallery_fingerprint",
]
