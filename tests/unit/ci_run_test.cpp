// The CI run's cicd.* attributes from each system's variables (src/ci_run.h).
#include "ci_run.h"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

// Sets the variables for the life of the object, every CI variable the table reads cleared first.
struct CiEnv {
  static constexpr const char* kAll[] = {"GITHUB_ACTIONS",
                                         "GITHUB_RUN_ID",
                                         "GITHUB_WORKFLOW",
                                         "GITHUB_JOB",
                                         "RUNNER_NAME",
                                         "GITHUB_SERVER_URL",
                                         "GITHUB_REPOSITORY",
                                         "GITLAB_CI",
                                         "CI_PIPELINE_ID",
                                         "CI_PIPELINE_NAME",
                                         "CI_PROJECT_PATH",
                                         "CI_PIPELINE_URL",
                                         "CI_JOB_NAME",
                                         "CI_JOB_ID",
                                         "CI_JOB_URL",
                                         "CI_RUNNER_DESCRIPTION",
                                         "BUILDKITE",
                                         "BUILDKITE_BUILD_ID",
                                         "BUILDKITE_PIPELINE_SLUG",
                                         "BUILDKITE_BUILD_URL",
                                         "BUILDKITE_LABEL",
                                         "BUILDKITE_JOB_ID",
                                         "BUILDKITE_AGENT_NAME",
                                         "CIRCLECI",
                                         "CIRCLE_WORKFLOW_ID",
                                         "CIRCLE_PROJECT_REPONAME",
                                         "CIRCLE_JOB",
                                         "CIRCLE_BUILD_NUM",
                                         "CIRCLE_BUILD_URL",
                                         "JENKINS_URL",
                                         "BUILD_ID",
                                         "JOB_NAME",
                                         "BUILD_URL",
                                         "NODE_NAME"};
  explicit CiEnv(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (const char* name : kAll) unsetenv(name);
    for (const auto& [name, value] : vars) setenv(name, value, 1);
  }
  ~CiEnv() {
    for (const char* name : kAll) unsetenv(name);
  }
};

}  // namespace

TEST_CASE("ci_run: nothing outside CI, nor without the run id, nor with a flag that is not 'true'") {
  {
    CiEnv env({});
    CHECK(ctxrun::ci_attributes().empty());
  }
  {
    CiEnv env({{"GITHUB_ACTIONS", "true"}, {"GITHUB_WORKFLOW", "CI"}});
    CHECK(ctxrun::ci_attributes().empty());
  }
  {
    CiEnv env({{"GITHUB_ACTIONS", "false"}, {"GITHUB_RUN_ID", "1"}});
    CHECK(ctxrun::ci_attributes().empty());
  }
  {
    CiEnv env({{"BUILD_ID", "7"}, {"JOB_NAME", "x"}});  // Jenkins' names without JENKINS_URL
    CHECK(ctxrun::ci_attributes().empty());
  }
}

TEST_CASE("ci_run: GitHub Actions, with the run's URL made of three variables") {
  CiEnv env({{"GITHUB_ACTIONS", "true"},
             {"GITHUB_RUN_ID", "9753949763"},
             {"GITHUB_WORKFLOW", "Build and Test"},
             {"GITHUB_JOB", "test"},
             {"RUNNER_NAME", "runner-1"},
             {"GITHUB_SERVER_URL", "https://github.com"},
             {"GITHUB_REPOSITORY", "o/r"}});
  CHECK(ctxrun::ci_attributes() ==
        Pairs{{"cicd.pipeline.name", "Build and Test"},
              {"cicd.pipeline.run.id", "9753949763"},
              {"cicd.pipeline.task.name", "test"},
              {"cicd.worker.name", "runner-1"},
              {"cicd.pipeline.run.url.full", "https://github.com/o/r/actions/runs/9753949763"}});
}

TEST_CASE("ci_run: GitLab's pipeline name falls back to the project path; empty variables are left out") {
  CiEnv env({{"GITLAB_CI", "true"},
             {"CI_PIPELINE_ID", "4711"},
             {"CI_PIPELINE_NAME", ""},
             {"CI_PROJECT_PATH", "g/p"},
             {"CI_JOB_ID", "99"}});
  CHECK(ctxrun::ci_attributes() ==
        Pairs{{"cicd.pipeline.name", "g/p"}, {"cicd.pipeline.run.id", "4711"}, {"cicd.pipeline.task.run.id", "99"}});
}

TEST_CASE("ci_run: Buildkite, CircleCI and Jenkins") {
  {
    CiEnv env({{"BUILDKITE", "true"}, {"BUILDKITE_BUILD_ID", "b-1"}, {"BUILDKITE_LABEL", ":test:"}});
    CHECK(ctxrun::ci_attributes() == Pairs{{"cicd.pipeline.run.id", "b-1"}, {"cicd.pipeline.task.name", ":test:"}});
  }
  {
    CiEnv env({{"CIRCLECI", "true"}, {"CIRCLE_WORKFLOW_ID", "w-1"}, {"CIRCLE_BUILD_NUM", "12"}});
    CHECK(ctxrun::ci_attributes() == Pairs{{"cicd.pipeline.run.id", "w-1"}, {"cicd.pipeline.task.run.id", "12"}});
  }
  {
    CiEnv env({{"JENKINS_URL", "https://ci.example/"},
               {"BUILD_ID", "42"},
               {"JOB_NAME", "nightly"},
               {"BUILD_URL", "https://ci.example/job/nightly/42/"}});
    CHECK(ctxrun::ci_attributes() == Pairs{{"cicd.pipeline.name", "nightly"},
                                           {"cicd.pipeline.run.id", "42"},
                                           {"cicd.pipeline.run.url.full", "https://ci.example/job/nightly/42/"}});
  }
}
