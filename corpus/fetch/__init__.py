"""`corpus fetch`: services -> files a reader reads, with a ledger that makes every fetch resumable and accountable.

  manifest.py   the fetch manifest (its own file: what to get, from which service, into which folder)
  http.py       the polite HTTP client: rate limit, retries with Retry-After, size caps, content checks, atomic writes
  ledger.py     one row per item and attempt (service, id, URL, status, HTTP code, bytes, checksum, licence, error)
  crossref.py   Crossref: journals (by ISSN or title) -> their works' DOIs and licences, per journal
  elsevier.py   Elsevier's full-text API: DOI -> full-text-retrieval-response XML (the `elsevier` reader)
  openalex.py   OpenAlex: works by filter -> metadata or their open-access PDFs (the `pdf` reader)
  oai.py        OAI-PMH listing (ListRecords over resumption tokens), shared by arXiv and PMC
  arxiv.py      arXiv: OAI-PMH listing by set and category, then e-print sources (the `latex` reader) or PDFs
  arxiv_bulk.py arXiv's requester-pays S3 bucket: monthly tars of e-prints (boto3), unpacked one file per paper
  pmc.py        PubMed Central open access: full-text JATS over OAI-PMH (the `jats` reader), by licence and journal
  materials_project.py   Materials Project: structures with properties (the `crystal_json` reader)
  cod.py        COD: CIFs by id or search (the `cif` reader)
  optimade.py   OPTIMADE: structures by filter from any provider, as CIF (the `cif` reader) or OPTIMADE JSON
  run.py        the loop: discover items, skip what the ledger says is here, fetch the rest, reconcile
"""
