"""The fetch manifest: its own YAML file, separate from the build manifest, because fetching is done once (slowly,
under quotas, with credentials) and building many times from what it fetched.

    name: open_materials
    output_dir: ../data/fetched         # every job writes under output_dir/<into>; the ledger is output_dir/fetch_ledger.jsonl
    contact: ${FETCH_CONTACT:-}         # an e-mail for the User-Agent: the polite pool of the services that ask for one
    jobs:
      - name: arxiv_mtrl_sci
        service: arxiv
        into: arxiv/mtrl-sci             # the `latex` reader reads this folder
        set: physics:cond-mat
        categories: [cond-mat.mtrl-sci, cond-mat.supr-con]
        from_date: 2024-01-01
      - name: alexandria_li
        service: optimade
        into: crystals/alexandria
        endpoint: https://alexandria.icams.rub.de/pbe/v1
        filter: 'elements HAS "Li" AND nelements<=3'

Credentials never go in a manifest: a job names the environment variable that holds its key (`api_key_env`).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, ClassVar, Literal, Union

from pydantic import Field, field_validator, model_validator

from corpus.config import ConfigError, InputPath, LocalPath, StrictModel, read_config, resolve_paths


class FetchError(ValueError):
    """A fetch manifest that cannot be used (named field), before any request is made."""


class Limits(StrictModel):
    per_second: float | None = Field(None, gt=0, le=50, description="requests per second to this service, at most; "
                                     "default: the service's own (each job class's `default_rate`)")
    retries: int = Field(5, ge=0, le=20, description="tries after the first on 429, 5xx, timeouts and dropped connections")
    backoff_s: float = Field(2.0, ge=0, description="first wait of the exponential backoff when the service gives no Retry-After")
    max_wait_s: float = Field(600.0, gt=0, description="the longest Retry-After honoured; a longer one stops the job (a quota)")
    timeout_s: float = Field(60.0, gt=0, description="the longest wait for a connection or for the next bytes of an answer; "
                             "an answer as a whole must also arrive within timeout_s + its bytes / min_bytes_per_s")
    min_bytes_per_s: float = Field(8192.0, gt=0, description="the slowest average rate tolerated after the first timeout_s: "
                                   "a download or listing page that falls behind fails as too_slow")
    max_item_s: float = Field(3600.0, gt=0, description="the longest any one download or listing page may take, however fast it trickles")
    max_bytes: int = Field(200 * 2**20, gt=0, description="a download larger than this is cut off and failed as too_large")
    max_listing_bytes: int = Field(64 * 2**20, gt=0, description="a listing page (a JSON or XML answer held in memory to parse) "
                                   "larger than this fails the listing as too_large")


class _Job(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    into: str = Field(description="folder under output_dir for this job's files")
    limit: int | None = Field(None, ge=1, description="at most this many items (for trials; --limit overrides)")
    limits: Limits = Limits()
    default_rate: ClassVar[float] = 1.0  # requests per second when `limits.per_second` is not given: the service's own
    default_max_bytes: ClassVar[int] = 200 * 2**20  # the download cap when `limits.max_bytes` is not given

    @field_validator("into")
    @classmethod
    def _inside_output(cls, value: str) -> str:
        # a job writes (and clears its stale partial files) only inside output_dir
        parts = Path(value).parts
        if not value.strip() or Path(value).is_absolute() or ".." in parts or value.strip() in (".", "./"):
            raise ValueError("a folder inside output_dir (relative, no '..')")
        return value

    @model_validator(mode="after")
    def _service_rate(self):
        # a job that sets some limits keeps its service's polite rate unless it sets that too
        if self.limits.per_second is None:
            object.__setattr__(self, "limits", self.limits.model_copy(update={"per_second": self.default_rate}))
        if "max_bytes" not in self.limits.model_fields_set:
            object.__setattr__(self, "limits", self.limits.model_copy(update={"max_bytes": self.default_max_bytes}))
        return self


class ArxivJob(_Job):
    service: Literal["arxiv"]
    endpoint: str = Field("https://oaipmh.arxiv.org/oai", description="the OAI-PMH endpoint")
    files_endpoint: str = Field("https://arxiv.org", description="where /e-print/<id> and /pdf/<id> are served")
    set: str = Field("physics:cond-mat", description="OAI-PMH set")
    categories: list[str] = Field(default_factory=lambda: ["cond-mat.mtrl-sci"], min_length=1,
                                  description="keep a record when any of its categories is one of these")
    from_date: dt.date | None = None
    until_date: dt.date | None = None
    files: Literal["source", "pdf", "none"] = Field("source", description="source: the e-print (LaTeX, for the latex reader); pdf; "
                                                    "none: the record only, as ID.json (e.g. the paper list of an arxiv_bulk job)")
    # arXiv asks for no more than one request every three seconds (arxiv.org/help/api/tou)
    default_rate: ClassVar[float] = 1 / 3


class ArxivBulkJob(_Job):
    service: Literal["arxiv_bulk"]
    endpoint: str = Field("https://s3.amazonaws.com", description="the S3 endpoint (AWS, or an S3-compatible mirror)")
    bucket: str = Field("arxiv", description="arXiv's requester-pays bucket")
    kind: Literal["src", "pdf"] = Field("src", description="src: the e-prints (the latex reader); pdf: the PDFs")
    from_yymm: str | None = Field(None, pattern=r"^\d{4}$", description="first month of tars to take (YYMM, e.g. 2401)")
    until_yymm: str | None = Field(None, pattern=r"^\d{4}$", description="last month of tars to take (YYMM)")
    ids_from: str | None = Field(None, description="keep only these papers: an `arxiv` job's folder with `files: none` "
                                 "(its ID.json records: ids, categories, licences) or a file of one arXiv id per line, "
                                 "under output_dir; without it every paper in the tars is kept")
    requester_pays: bool = Field(True, description="send RequestPayer=requester (arXiv's bucket needs it: you pay the transfer)")
    api_key_env: str = Field("AWS_ACCESS_KEY_ID", description="the AWS credentials are boto3's own environment variables "
                             "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); named here so a dry run says what a run needs")
    # a request is a ~500 MB tar; S3 has no published per-client rate for GETs this size
    default_rate: ClassVar[float] = 5.0
    default_max_bytes: ClassVar[int] = 4 * 2**30  # arXiv's tars are ~500 MB-1 GB

    @model_validator(mode="after")
    def _months(self):
        if self.from_yymm and self.until_yymm and yymm_order(self.from_yymm) > yymm_order(self.until_yymm):
            raise ValueError("from_yymm is after until_yymm")
        return self


def yymm_order(yymm: str) -> int:
    """YYMM as a sortable month: arXiv began in 1991, so 91-99 are the 1990s and the rest the 2000s."""
    year = int(yymm[:2])
    return (1900 + year if year >= 91 else 2000 + year) * 100 + int(yymm[2:])


class PmcJob(_Job):
    service: Literal["pmc"]
    endpoint: str = Field("https://www.ncbi.nlm.nih.gov/pmc/oai/oai.cgi",
                          description="PMC's OAI-PMH endpoint (this documented address redirects to the current one)")
    set: str = Field("pmc-open", description="OAI-PMH set: pmc-open is the open-access subset")
    licence: Literal["any", "commercial"] = Field("any", description="commercial: only CC BY and CC0 articles (PMC's "
                                                  "commercial-use subset); any: every open-access licence")
    issns: list[str] = Field(default_factory=list, description="keep only articles of these journals (print or electronic ISSN)")
    from_date: dt.date | None = None
    until_date: dt.date | None = None
    # NCBI asks for no more than 3 requests a second without an API key; a page is ten full-text articles
    default_rate: ClassVar[float] = 2.0


class PmcS3Job(_Job):
    service: Literal["pmc_s3"]
    endpoint: str | None = Field(None, description="the S3 endpoint; default AWS's (the bucket is world-readable: no credentials)")
    bucket: str = Field("pmc-oa-opendata", description="PMC's Cloud Service bucket")
    pmcids: list[str] = Field(default_factory=list, description="these articles (PMC12855588 or 12855588), each at its latest version")
    ids_from: str | None = Field(None, description="a file of PMCIDs, one a line, under output_dir")
    search: str | None = Field(None, description="a PMC search (ESearch, db=pmc), e.g. 'perovskite solar cell AND 2024[pdat]'; "
                               "PMC's open-access filters are added, and its commercial-licence filters with licence: commercial")
    esearch_endpoint: str = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/esearch.fcgi"
    licence: Literal["any", "commercial"] = Field("any", description="commercial: CC0, CC BY, CC BY-SA and CC BY-ND only "
                                                  "(PMC's filters for commercial reuse)")
    # NCBI asks for no more than 3 requests a second without an API key (ESearch); S3 GETs share the pace
    default_rate: ClassVar[float] = 3.0

    @model_validator(mode="after")
    def _something(self):
        if not self.pmcids and not self.ids_from and not self.search:
            raise ValueError("give pmcids, ids_from or search")
        bad = [i for i in self.pmcids if not re.fullmatch(r"(?:PMC)?\d{1,10}", i)]
        if bad:
            raise ValueError(f"pmcids are PMC accession ids such as PMC12855588, not {bad}")
        return self


class OptimadeJob(_Job):
    service: Literal["optimade"]
    endpoint: str = Field(description="a provider's versioned base URL, e.g. https://alexandria.icams.rub.de/pbe/v1")
    filter: str = Field(min_length=1, description="an OPTIMADE filter, e.g. 'elements HAS \"Li\" AND nelements<=3'")
    page_limit: int = Field(100, ge=1, le=1000)
    format: Literal["cif", "json"] = Field("cif", description="cif: one CIF per structure (the cif reader); json: the OPTIMADE entry")
    licence: str | None = Field(None, description="the provider's terms, recorded with every item (e.g. CC-BY-4.0)")
    api_key_env: str | None = Field(None, description="environment variable holding a key sent as a Bearer token")
    default_rate: ClassVar[float] = 2.0


class CrossrefJob(_Job):
    service: Literal["crossref"]
    endpoint: str = "https://api.crossref.org"
    issns: list[str] = Field(default_factory=list, description="journals by ISSN (NNNN-NNNC)")
    journals: list[str] = Field(default_factory=list, description="journals by title, resolved to one ISSN each (or failed)")
    journals_file: InputPath | None = Field(None, description="a CSV with a `journal` column of titles (underscores read as "
                                            "spaces), e.g. LLaMat's corpus_priority.csv; added to `journals`")
    publisher: str | None = Field(None, description="with journals_file: only the rows whose `publisher` column is this")
    from_date: dt.date | None = None
    until_date: dt.date | None = None
    work_type: str | None = Field("journal-article", description="Crossref's type filter; null for every type")
    rows: int = Field(1000, ge=1, le=1000, description="works per cursor page (Crossref's maximum is 1000)")
    # Crossref's polite pool (requests with a mailto) allows ~10 requests/s; stay under it
    default_rate: ClassVar[float] = 5.0

    @model_validator(mode="after")
    def _some_journal(self):
        if not self.issns and not self.journals and not self.journals_file:
            raise ValueError("give issns, journals or journals_file")
        return self


class ElsevierJob(_Job):
    service: Literal["elsevier"]
    endpoint: str = "https://api.elsevier.com"
    dois_from: str = Field(description="a Crossref job's folder under output_dir (its ISSN.jsonl files), or a file of one DOI per line")
    api_key_env: str = Field("ELSEVIER_API_KEY", description="environment variable holding the API key (X-ELS-APIKey)")
    insttoken_env: str | None = Field(None, description="environment variable holding an institution token (X-ELS-Insttoken)")
    # Elsevier's article retrieval allows 10 requests/s and a weekly quota per key; a 429 past the retries stops the job
    default_rate: ClassVar[float] = 5.0


class SpringerJob(_Job):
    service: Literal["springer"]
    endpoint: str = "https://api.springernature.com"
    dois_from: str = Field(description="a Crossref job's folder under output_dir (its ISSN.jsonl files), or a file of one DOI per line")
    api_key_env: str = Field("SPRINGER_API_KEY", description="environment variable holding the Open Access API key")
    # Springer Nature's free tier allows a few requests a second and a daily quota: a 429 past the retries stops the job
    default_rate: ClassVar[float] = 2.0


class MaterialsProjectJob(_Job):
    service: Literal["materials_project"]
    endpoint: str = "https://api.materialsproject.org"
    query: dict[str, str | int | float] = Field(default_factory=dict, description="summary filters, e.g. {nsites_max: 20, "
                                                "energy_above_hull_max: 0.1, elements: Li,O}")
    properties: list[str] = Field(default_factory=lambda: ["formula_pretty", "formation_energy_per_atom", "band_gap",
                                                           "energy_above_hull", "symmetry"], description="summary fields kept with each structure")
    page_size: int = Field(500, ge=1, le=1000)
    api_key_env: str = Field("MP_API_KEY", description="environment variable holding the Materials Project API key")
    # a conservative rate: a page of up to 1,000 structures is one request
    default_rate: ClassVar[float] = 5.0


class CodJob(_Job):
    service: Literal["cod"]
    endpoint: str = "https://www.crystallography.net/cod"
    ids: list[int | str] = Field(default_factory=list, description="COD ids (e.g. 1507756)")
    search: dict[str, str | int] = Field(default_factory=dict, description="a COD search (its own parameters, e.g. "
                                         "{el1: Ba, el2: Ti, nel1: 3}); every entry it returns is fetched")
    default_rate: ClassVar[float] = 2.0

    @model_validator(mode="after")
    def _something(self):
        if not self.ids and not self.search:
            raise ValueError("give ids or search")
        return self


class GnomeJob(_Job):
    service: Literal["gnome"]
    endpoint: str = Field("https://storage.googleapis.com/gdm_materials_discovery/gnome_data",
                          description="the gnome_data folder of GNoME's public bucket, over HTTPS")
    ids: list[str] = Field(default_factory=list, description="only these MaterialIds")
    elements: list[str] = Field(default_factory=list, description="only materials that contain every one of these elements")
    exclude_elements: list[str] = Field(default_factory=list, description="no material that contains any of these")
    max_nelements: int | None = Field(None, ge=1, description="at most this many distinct elements")
    max_sites: int | None = Field(None, ge=1, description="at most this many atoms in the cell (NSites)")
    max_decomposition_energy: float | None = Field(None, description="at most this far above the hull, eV/atom")
    default_rate: ClassVar[float] = 1.0  # two downloads
    default_max_bytes: ClassVar[int] = 2 * 2**30  # by_id.zip is ~460 MB

    @field_validator("elements", "exclude_elements")
    @classmethod
    def _symbols(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not re.fullmatch(r"[A-Z][a-z]?", v)]
        if bad:
            raise ValueError(f"element symbols such as Li or O, not {bad}")
        return value


class OpenAlexJob(_Job):
    service: Literal["openalex"]
    endpoint: str = "https://api.openalex.org"
    filter: str = Field(min_length=1, description="an OpenAlex works filter, e.g. "
                        "'primary_location.source.issn:0925-8388,open_access.is_oa:true,from_publication_date:2020-01-01'")
    files: Literal["metadata", "pdf"] = Field("metadata", description="metadata: WORK.json; pdf: the best open-access PDF (the pdf reader)")
    per_page: int = Field(200, ge=1, le=200)
    api_key_env: str | None = Field("OPENALEX_API_KEY", description="environment variable holding the API key (sent as api_key)")
    default_rate: ClassVar[float] = 5.0


Job = Annotated[Union[ArxivJob, ArxivBulkJob, PmcJob, PmcS3Job, OptimadeJob, CrossrefJob, ElsevierJob, SpringerJob, MaterialsProjectJob, CodJob, GnomeJob,
                      OpenAlexJob],
                Field(discriminator="service")]


class FetchManifest(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    output_dir: LocalPath
    contact: str | None = Field(None, description="an e-mail address for the User-Agent (polite pools)")
    jobs: list[Job] = Field(min_length=1)


def load_fetch_manifest(path: str | Path) -> FetchManifest:
    path = Path(path)
    try:
        manifest = read_config(path, FetchManifest, "fetch manifest", "name, output_dir and jobs")
    except ConfigError as e:
        raise FetchError(str(e)) from None
    names = [j.name for j in manifest.jobs]
    if len(set(names)) != len(names):
        raise FetchError(f"{path}: jobs: job names must be unique (got {names})")
    manifest = FetchManifest.model_validate(resolve_paths(manifest, path.parent))
    for i, job in enumerate(manifest.jobs):
        if getattr(job, "journals_file", None) and not Path(job.journals_file).is_file():
            raise FetchError(f"{path}: jobs[{i}].journals_file: file not found: {job.journals_file}")
    return manifest
