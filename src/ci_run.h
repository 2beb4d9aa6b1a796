// The CI run ctxrun is part of, as OpenTelemetry's semantic conventions name it (cicd.*), read from
// the variables each CI system sets. Only when the system's run id is there: a variable such as
// JOB_NAME alone says nothing about being in CI.
//
//   system     detected by (and run id)                 cicd.* attributes from
//   GitHub     GITHUB_ACTIONS=true, GITHUB_RUN_ID       GITHUB_WORKFLOW, GITHUB_RUN_ID, GITHUB_SERVER_URL/
//                                                       GITHUB_REPOSITORY/actions/runs/ID, GITHUB_JOB, RUNNER_NAME
//   GitLab     GITLAB_CI=true, CI_PIPELINE_ID           CI_PIPELINE_NAME or CI_PROJECT_PATH, CI_PIPELINE_ID,
//                                                       CI_PIPELINE_URL, CI_JOB_NAME, CI_JOB_ID, CI_JOB_URL,
//                                                       CI_RUNNER_DESCRIPTION
//   Buildkite  BUILDKITE=true, BUILDKITE_BUILD_ID       BUILDKITE_PIPELINE_SLUG, ..._BUILD_ID, ..._BUILD_URL,
//                                                       ..._LABEL, ..._JOB_ID, ..._AGENT_NAME
//   CircleCI   CIRCLECI=true, CIRCLE_WORKFLOW_ID        CIRCLE_PROJECT_REPONAME, CIRCLE_WORKFLOW_ID, CIRCLE_JOB,
//                                                       CIRCLE_BUILD_NUM, CIRCLE_BUILD_URL
//   Jenkins    JENKINS_URL, BUILD_ID                    JOB_NAME, BUILD_ID, BUILD_URL, NODE_NAME
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace ctxrun {

// (attribute, value) pairs for the first CI system whose run id is in the environment; attributes
// whose variable is unset or empty are left out. Empty outside CI.
std::vector<std::pair<std::string, std::string>> ci_attributes();

}  // namespace ctxrun
