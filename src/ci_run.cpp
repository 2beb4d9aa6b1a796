#include "ci_run.h"

#include <cstdlib>
#include <string_view>

namespace ctxrun {
namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

struct Mapping {
  const char* attribute;
  const char* variable;
};

struct CiSystem {
  const char* flag;        // set to `flag_value` by the system (or, for Jenkins, set at all)
  const char* flag_value;  // nullptr: any non-empty value
  const char* run_id;
  std::vector<Mapping> attributes;
};

const std::vector<CiSystem>& systems() {
  static const std::vector<CiSystem> all = {
      {"GITHUB_ACTIONS",
       "true",
       "GITHUB_RUN_ID",
       {{"cicd.pipeline.name", "GITHUB_WORKFLOW"},
        {"cicd.pipeline.run.id", "GITHUB_RUN_ID"},
        {"cicd.pipeline.task.name", "GITHUB_JOB"},
        {"cicd.worker.name", "RUNNER_NAME"}}},
      {"GITLAB_CI",
       "true",
       "CI_PIPELINE_ID",
       {{"cicd.pipeline.name", "CI_PIPELINE_NAME"},
        {"cicd.pipeline.name", "CI_PROJECT_PATH"},
        {"cicd.pipeline.run.id", "CI_PIPELINE_ID"},
        {"cicd.pipeline.run.url.full", "CI_PIPELINE_URL"},
        {"cicd.pipeline.task.name", "CI_JOB_NAME"},
        {"cicd.pipeline.task.run.id", "CI_JOB_ID"},
        {"cicd.pipeline.task.run.url.full", "CI_JOB_URL"},
        {"cicd.worker.name", "CI_RUNNER_DESCRIPTION"}}},
      {"BUILDKITE",
       "true",
       "BUILDKITE_BUILD_ID",
       {{"cicd.pipeline.name", "BUILDKITE_PIPELINE_SLUG"},
        {"cicd.pipeline.run.id", "BUILDKITE_BUILD_ID"},
        {"cicd.pipeline.run.url.full", "BUILDKITE_BUILD_URL"},
        {"cicd.pipeline.task.name", "BUILDKITE_LABEL"},
        {"cicd.pipeline.task.run.id", "BUILDKITE_JOB_ID"},
        {"cicd.worker.name", "BUILDKITE_AGENT_NAME"}}},
      {"CIRCLECI",
       "true",
       "CIRCLE_WORKFLOW_ID",
       {{"cicd.pipeline.name", "CIRCLE_PROJECT_REPONAME"},
        {"cicd.pipeline.run.id", "CIRCLE_WORKFLOW_ID"},
        {"cicd.pipeline.task.name", "CIRCLE_JOB"},
        {"cicd.pipeline.task.run.id", "CIRCLE_BUILD_NUM"},
        {"cicd.pipeline.task.run.url.full", "CIRCLE_BUILD_URL"}}},
      {"JENKINS_URL",
       nullptr,
       "BUILD_ID",
       {{"cicd.pipeline.name", "JOB_NAME"},
        {"cicd.pipeline.run.id", "BUILD_ID"},
        {"cicd.pipeline.run.url.full", "BUILD_URL"},
        {"cicd.worker.name", "NODE_NAME"}}},
  };
  return all;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> ci_attributes() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& ci : systems()) {
    std::string flag = env(ci.flag);
    if (flag.empty() || (ci.flag_value && flag != ci.flag_value) || env(ci.run_id).empty()) continue;
    auto has = [&](std::string_view attribute) {
      for (const auto& [name, value] : out)
        if (name == attribute) return true;
      return false;
    };
    // The first variable that is set gives the attribute (GitLab's pipeline name has a fallback).
    for (const auto& m : ci.attributes)
      if (std::string value = env(m.variable); !value.empty() && !has(m.attribute))
        out.emplace_back(m.attribute, value);
    // GitHub sets no URL of the run: it is made of three variables.
    if (std::string_view(ci.run_id) == "GITHUB_RUN_ID" && !env("GITHUB_SERVER_URL").empty() &&
        !env("GITHUB_REPOSITORY").empty())
      out.emplace_back("cicd.pipeline.run.url.full", env("GITHUB_SERVER_URL") + "/" + env("GITHUB_REPOSITORY") +
                                                         "/actions/runs/" + env("GITHUB_RUN_ID"));
    break;
  }
  return out;
}

}  // namespace ctxrun
